// Adaptive runtime: bandwidth estimation, the operating-point table and the deadline controller.
#include <slimcodec/device/bandwidth.hpp>
#include <slimcodec/device/controller.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace slimcodec::device;

TEST_CASE("bandwidth: steady link, a single outlier, and an idle period") {
  BandwidthEstimator est;
  REQUIRE_FALSE(est.has_estimate());
  double t = 0;
  for (int i = 0; i < 20; ++i) est.add_sample(100e3, t += 100);
  REQUIRE(est.ewma_bytes_per_s() == Approx(100e3));
  REQUIRE(est.conservative_bytes_per_s(t) == Approx(100e3));

  est.add_sample(2e6, t += 100);  // one wild sample
  REQUIRE(est.ewma_bytes_per_s() == Approx(100e3));
  est.add_sample(5e3, t += 100);  // and one the other way
  REQUIRE(est.ewma_bytes_per_s() == Approx(100e3));
  REQUIRE(est.conservative_bytes_per_s(t) == Approx(100e3));

  // After a minute of silence the link is slower: three samples are enough to follow it.
  t += 60000;
  for (int i = 0; i < 3; ++i) est.add_sample(40e3, t += 100);
  REQUIRE(est.ewma_bytes_per_s() == Approx(40e3).epsilon(0.1));
  REQUIRE(est.conservative_bytes_per_s(t) == Approx(40e3).epsilon(0.1));
}

TEST_CASE("bandwidth: the conservative estimate is a low quantile, never above the EWMA") {
  BandwidthEstimator est(BandwidthOptions{2000, 10000, 0.2});
  double t = 0;
  for (int i = 0; i < 16; ++i) est.add_sample(i % 2 ? 200e3 : 100e3, t += 50);
  const double c = est.conservative_bytes_per_s(t);
  REQUIRE(c == Approx(100e3));
  REQUIRE(c <= est.ewma_bytes_per_s());
  REQUIRE(est.ewma_bytes_per_s() > 100e3);
}

TEST_CASE("bandwidth from send/ack timing subtracts server and fixed time") {
  BandwidthEstimator est;
  est.on_ack(10000, 0, 150, 40, 10);  // 10 kB in 100 ms of transfer
  REQUIRE(est.ewma_bytes_per_s() == Approx(100e3));
  est.on_ack(10000, 200, 200.01, 0, 0);  // too short to mean anything
  est.on_ack(0, 300, 400);               // nothing sent
  est.on_ack(1000, 500, 480);            // clock went backwards
  REQUIRE(est.ewma_bytes_per_s() == Approx(100e3));
}

namespace {

// Accuracy rising with s and b, as the paper's Table I does.
OperatingPointTable paper_like_table() {
  OperatingPointTable table;
  for (unsigned s = 1; s <= 4; ++s) {
    table.calibrate_encoder(s, 60.0 * s);  // a Raspberry-Pi-class device
    for (unsigned b = 1; b <= 4; ++b) {
      table.set_accuracy(s, b, 0.30 + 0.02 * s + 0.03 * b - 0.04 / b);
      table.observe_server_ms(s, b, 20);
    }
  }
  return table;
}

}  // namespace

TEST_CASE("operating points carry the wire format's frame sizes") {
  OperatingPointTable table;
  REQUIRE(table.at(1, 1).bytes == 6912 + 52);
  REQUIRE(table.at(3, 4).bytes == 27648 + 52);
  REQUIRE_FALSE(table.at(2, 2).enabled);
  table.observe_server_ms(2, 2, 10);
  table.observe_server_ms(2, 2, 20);
  REQUIRE(table.at(2, 2).server_ms == Approx(12));
}

TEST_CASE("controller: most accurate configuration that meets the deadline") {
  OperatingPointTable table = paper_like_table();
  Controller ctl(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.1});
  // Plenty of bandwidth: the most accurate point, s=4 b=4 (240 + 20 + 27.7 kB / 1 MB/s).
  Decision d = ctl.decide(table, 1e6);
  REQUIRE(d.plan == Plan::split);
  REQUIRE((d.s == 4 && d.b == 4));
  REQUIRE(d.predicted_ms <= 360);
  // Bluetooth-class 100 kB/s: every choice found must fit 360 ms, and none fitting is more accurate.
  Controller fresh(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.1});
  d = fresh.decide(table, 100e3);
  REQUIRE(d.predicted_ms <= 360);
  for (const auto& p : table.points())
    if (p.enabled && Controller::predict_ms(p.encoder_ms, p.bytes, p.server_ms, 100e3, 0) <= 360)
      REQUIRE(p.accuracy <= d.accuracy);
  // Nothing fits: the fastest choice, to miss by as little as possible.
  Controller starved(ControllerOptions{Objective::max_accuracy_within_deadline, 100, 0.1});
  d = starved.decide(table, 10e3);
  REQUIRE((d.s == 1 && d.b == 1));
}

TEST_CASE("controller: hysteresis stops flapping on a jittery link") {
  OperatingPointTable table = paper_like_table();
  Controller ctl(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.1});
  int switches = 0;
  Decision prev = ctl.decide(table, 150e3);
  for (int i = 0; i < 200; ++i) {
    const double rate = 150e3 * (1.0 + 0.03 * std::sin(i * 0.9));  // +-3 % jitter
    Decision d = ctl.decide(table, rate);
    REQUIRE(d.predicted_ms <= 360);  // never keeps a choice that no longer fits
    if (d.s != prev.s || d.b != prev.b) ++switches;
    prev = d;
  }
  REQUIRE(switches <= 2);
  // A real drop forces an immediate downgrade.
  Decision low = ctl.decide(table, 40e3);
  REQUIRE(low.predicted_ms <= 360);
  REQUIRE(low.accuracy < prev.accuracy);
}

TEST_CASE("controller: an overshoot adds margin that decays frame by frame") {
  OperatingPointTable table = paper_like_table();
  ControllerOptions o{Objective::max_accuracy_within_deadline, 400, 0.05};
  o.overshoot_gain = 1.0;
  o.overshoot_decay = 0.5;
  o.upgrade_headroom = 0;
  Controller ctl(o);
  const Decision before = ctl.decide(table, 150e3);
  REQUIRE(before.predicted_ms <= 380);
  // The frame took 120 ms more than predicted: 0.3 of the deadline on top of the 0.05 margin.
  ctl.on_result(before.predicted_ms, before.predicted_ms + 120);
  REQUIRE(ctl.extra_margin() == Approx(0.3));
  const Decision after = ctl.decide(table, 150e3);
  REQUIRE(after.predicted_ms <= 400 * (1 - 0.35) + 1e-9);
  REQUIRE(after.accuracy < before.accuracy);
  // Frames on time let it decay by half each; a faster-than-predicted frame never makes it negative.
  ctl.on_result(after.predicted_ms, after.predicted_ms - 50);
  REQUIRE(ctl.extra_margin() == Approx(0.15));
  for (int i = 0; i < 20; ++i) ctl.on_result(100, 90);
  REQUIRE(ctl.extra_margin() < 1e-5);
  REQUIRE(ctl.decide(table, 150e3).accuracy == Approx(before.accuracy));
  // Off by default; a NaN or infinite time is ignored rather than poisoning every later decision.
  Controller plain(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.05});
  plain.on_result(100, 500);
  REQUIRE(plain.extra_margin() == 0);
  ctl.on_result(100, 220);
  REQUIRE(ctl.extra_margin() == Approx(0.3));
  ctl.on_result(100, std::nan(""));
  ctl.on_result(std::numeric_limits<double>::infinity(), 100);
  REQUIRE(ctl.extra_margin() == Approx(0.3));
}

TEST_CASE("controller: fastest configuration above an accuracy floor") {
  OperatingPointTable table = paper_like_table();
  ControllerOptions o;
  o.objective = Objective::fastest_above_accuracy_floor;
  o.accuracy_floor = 0.40;
  o.deadline_ms = 1000;
  Controller ctl(o);
  Decision d = ctl.decide(table, 200e3);
  REQUIRE(d.accuracy >= 0.40);
  for (const auto& p : table.points())
    if (p.enabled && p.accuracy >= 0.40)
      REQUIRE(Controller::predict_ms(p.encoder_ms, p.bytes, p.server_ms, 200e3, 0) >= d.predicted_ms - 1e-9);
}

TEST_CASE("planner weighs full offload and local-only") {
  OperatingPointTable table = paper_like_table();
  Controller ctl(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.1});
  ctl.full_offload() = Alternative{true, 5, 60000, 30, 0.60};  // JPEG frame, full network on the server
  ctl.local_only() = Alternative{true, 300, 0, 0, 0.25};
  REQUIRE(ctl.decide(table, 5e6).plan == Plan::full_offload);  // fast link: the best accuracy is affordable
  Controller mid(ctl);
  REQUIRE(mid.decide(table, 150e3).plan == Plan::split);  // the JPEG no longer fits, the bottleneck does
  Controller dead(ctl);
  REQUIRE(dead.decide(table, 1).plan == Plan::local_only);  // no link at all
}
