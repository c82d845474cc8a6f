// The trace-driven simulator: exact RTTs on simple traces, pacing, and the adaptive policy following a step.
#include <slimcodec/device/accuracy_table.hpp>
#include <emulation/trace_simulation.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace slimcodec;
using namespace slimcodec::device;
using namespace slimcodec::emulation;

namespace {

OperatingPointTable paper_table() {
  OperatingPointTable table;
  auto acc = load_accuracy_table(std::string(SLIMCODEC_TEST_DATA_DIR) + "/../docs/accuracy-paper.json");
  REQUIRE(acc);
  apply_accuracy_table(*acc, table);
  for (unsigned s = 1; s <= 4; ++s) {
    table.calibrate_encoder(s, 66.0 * s);
    for (unsigned b = 1; b <= 4; ++b) table.observe_server_ms(s, b, 20);
  }
  return table;
}

}  // namespace

TEST_CASE("simulation: a static configuration on a constant link has the model's exact RTT") {
  const OperatingPointTable table = paper_table();
  auto trace = LinkTrace::constant(100e3, 10);
  REQUIRE(trace);
  SimCosts costs = SimCosts::from_table(table, 5);
  CHECK(costs.server_ms == Approx(20));
  CHECK(costs.encoder_ms[2] == Approx(198));
  SimOptions o;
  o.deadline_ms = 300;
  o.frame_interval_ms = 500;
  StaticPolicy p{2, 3};
  std::vector<SimFrame> frames;
  const SimSummary sum = simulate(*trace, table, costs, o, p, &frames);
  const double rtt = 132 + table.at(2, 3).bytes / 100e3 * 1000 + 20 + 5;  // 20,788 B: 207.9 ms on the wire
  REQUIRE(sum.frames == 20);  // one every 500 ms over 10 s
  CHECK(frames[7].start_ms == Approx(3500));
  CHECK(sum.mean_rtt_ms() == Approx(rtt));
  CHECK(sum.hits == 0);  // 364.9 ms > 300
  CHECK(sum.mean_accuracy() == Approx(34.1));
  CHECK(sum.rtt_quantile_ms(0.99) == Approx(rtt));

  // Back to back when a frame takes longer than the interval; residuals add per frame, in turn.
  o.frame_interval_ms = 100;
  costs.residual_ms = {0, 50};
  frames.clear();
  simulate(*trace, table, costs, o, p, &frames);
  CHECK(frames[1].start_ms == Approx(frames[0].end_ms));
  CHECK(frames[1].rtt_ms() == Approx(rtt + 50));
}

TEST_CASE("simulation: a transfer caught in a drop waits it out, a dead link ends the run") {
  const OperatingPointTable table = paper_table();
  auto trace = LinkTrace::from_points({{0, 100e3}, {1, 0}, {1.5, 100e3}, {4, 100e3}});
  SimCosts costs = SimCosts::from_table(table);
  SimOptions o;
  o.deadline_ms = 10000;
  o.frame_interval_ms = 1000;
  StaticPolicy p{1, 1};
  std::vector<SimFrame> frames;
  simulate(*trace, table, costs, o, p, &frames);
  REQUIRE(frames.size() == 4);
  const double wire_ms = table.at(1, 1).bytes / 100e3 * 1000;
  CHECK(frames[0].rtt_ms() == Approx(66 + wire_ms + 20));
  CHECK(frames[1].rtt_ms() == Approx(500 + wire_ms + 20));  // sent at 1.066 s, inside the drop: waits to 1.5 s

  auto dead = LinkTrace::from_points({{0, 100e3}, {1, 0}, {2, 0}});
  frames.clear();
  const SimSummary sum = simulate(*dead, table, costs, o, p, &frames);
  CHECK(sum.frames == 2);
  CHECK(sum.hits == 1);
}

TEST_CASE("simulation: the adaptive policy meets the deadline and moves up after a step") {
  const OperatingPointTable table = paper_table();
  auto step = LinkTrace::load(std::string(SLIMCODEC_TEST_DATA_DIR) + "/../traces/step.csv");
  REQUIRE(step);
  ControllerOptions c;
  c.deadline_ms = 300;
  AdaptivePolicy adaptive(c, BandwidthOptions{}, 50e3);
  SimOptions o;
  o.deadline_ms = 300;
  o.frame_interval_ms = 300;
  std::vector<SimFrame> frames;
  const SimSummary sum = simulate(*step, table, SimCosts::from_table(table), o, adaptive, &frames);
  CHECK(sum.hit_rate() == 1.0);
  double before = 0, after = 0;
  int n_before = 0, n_after = 0;
  for (const SimFrame& f : frames) {
    if (f.start_ms > 2000 && f.start_ms < 5000) before += f.accuracy, ++n_before;
    if (f.start_ms > 7000) after += f.accuracy, ++n_after;
  }
  REQUIRE(n_before > 5);
  REQUIRE(n_after > 5);
  CHECK(after / n_after > before / n_before + 2);  // 400 kB/s buys clearly more than 100 kB/s
  // At 100 kB/s and 300 ms, s=1 b=2 (13.9 kB: 139 + 66 + 20 = 225 ms) fits and b=3 (20.8 kB: 294 ms) does not
  // fit the 270 ms budget: the controller holds b=2.
  CHECK(frames[8].b == 2);
  CHECK(frames[8].s == 1);

  // Statics on the same trace: the largest never fits, the smallest always does.
  StaticPolicy big{4, 4}, small{1, 1};
  CHECK(simulate(*step, table, SimCosts::from_table(table), o, big).hit_rate() == 0);
  CHECK(simulate(*step, table, SimCosts::from_table(table), o, small).hit_rate() == 1.0);
}
