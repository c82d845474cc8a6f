// Reliability of the MQTT transport with real worker processes (slimcodec-decode-service --mqtt): a worker killed
// mid-run (SIGKILL) loses the frames it held and the device's re-publish recovers every one; a worker told to stop
// (SIGTERM) answers every frame it holds before it exits. Plus a hidden throughput check ("[perf]").
#include "mqtt_test_support.hpp"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>

#ifndef SLIMCODEC_DECODE_SERVICE
#error "CMake passes the decode service's path as SLIMCODEC_DECODE_SERVICE"
#endif

using namespace slimcodec;
using namespace mqtt_test;

namespace {

std::unique_ptr<ChildProcess> start_worker_process(const Broker& broker, const std::string& id, int threads = 1) {
  auto p = std::make_unique<ChildProcess>(
      std::vector<std::string>{SLIMCODEC_DECODE_SERVICE, "--mqtt", "127.0.0.1:" + std::to_string(broker.port()),
                               "--client-id", id, "--workers", std::to_string(threads)},
      broker.dir().file(id + ".log"));
  REQUIRE(p->started());
  INFO(id << " output: " << p->output());
  REQUIRE(p->wait_for_output("mqtt: subscribed", 20s));
  return p;
}

// A number from the worker's shutdown summary, e.g. field(out, " answered") for "..., 12 answered, ...".
long long summary_number(const std::string& out, const std::string& after_number) {
  const size_t line = out.find("shutdown:");
  if (line == std::string::npos) return -1;
  const size_t at = out.find(after_number + ",", line);
  if (at == std::string::npos) return -1;
  size_t start = at;
  while (start > line && (std::isdigit(static_cast<unsigned char>(out[start - 1])) != 0)) --start;
  return start == at ? -1 : std::stoll(out.substr(start, at - start));
}

std::vector<TestFrame> frames_from(uint32_t first, int count) {
  std::vector<TestFrame> frames;
  for (int i = 0; i < count; ++i) frames.push_back(make_mixed_frame(first + uint32_t(i)));
  return frames;
}

}  // namespace

TEST_CASE("SIGKILL of a worker mid-run: the device still gets a reply for every frame, thanks to re-publish") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  auto a = start_worker_process(broker, "kill-worker-a");
  auto b = start_worker_process(broker, "kill-worker-b");
  auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "cam-kill", 1000ms));
  REQUIRE(device);

  // First both workers serve; then worker A freezes (a worker busy or hung), so the frames the broker hands it pile
  // up unanswered; 300 ms later it is killed, and those frames are gone with it, PUBACKed or not.
  constexpr int kWarmup = 100, kFrames = 300;
  const auto frames = frames_from(1, kFrames);
  const std::vector<TestFrame> warmup(frames.begin(), frames.begin() + kWarmup), rest(frames.begin() + kWarmup, frames.end());
  const DeviceTally t1 = drive_device(**device, warmup, 16, 60s);
  INFO(t1.first_problem);
  REQUIRE(t1.complete(kWarmup));
  a->signal(SIGSTOP);
  const auto stopped_at = Clock::now();
  bool killed = false;
  size_t pending_at_kill = 0;
  const DeviceTally t = drive_device(**device, rest, 16, 90s, [&](const DeviceTally&) {
    if (!killed && Clock::now() - stopped_at >= 300ms) {
      pending_at_kill = (*device)->pending();
      a->signal(SIGKILL);
      killed = true;
    }
  });
  REQUIRE(killed);
  REQUIRE(a->wait(10s) == -SIGKILL);

  const auto& s = (*device)->stats();
  WARN("kill test: " << kFrames << " frames, " << t.needed_republish << " needed a re-publish (" << s.republished
                     << " re-publishes in all, " << pending_at_kill << " unanswered when worker A was killed), "
                     << s.duplicate_replies << " duplicate replies dropped");
  INFO(t.first_problem);
  CHECK(t.complete(rest.size()));  // every frame answered, each exactly once, right digest
  CHECK(t.needed_republish >= 1);  // frames handed to the frozen worker existed, and only re-publish saved them
  CHECK(pending_at_kill >= 1);

  b->signal(SIGTERM);
  REQUIRE(b->wait(20s) == 0);
  const std::string out = b->output();
  INFO(out);
  CHECK(summary_number(out, " frames received") > 0);
  CHECK(summary_number(out, " answered") == summary_number(out, " frames received"));
}

TEST_CASE("SIGTERM: a worker answers the frames it holds before it exits") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  auto a = start_worker_process(broker, "term-worker-a");
  auto b = start_worker_process(broker, "term-worker-b");
  // A re-publish timeout far beyond the test: any frame a worker failed to answer would stay unanswered.
  auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "cam-term", 120s));
  REQUIRE(device);

  // Full-size frames (6x96x96, 8 bits, 55 KB) and a wide window, so that A holds more than the broker's 20 in-flight
  // messages per client: some of A's frames are still queued in the broker when A unsubscribes, and decoding the
  // backlog takes longer than the unsubscribe round trip. A worker that did not wait would lose frames here.
  constexpr int kWarmup = 40, kFrames = 200;
  std::vector<TestFrame> warmup, rest;
  for (int i = 0; i < kFrames; ++i) (i < kWarmup ? warmup : rest).push_back(make_frame(uint32_t(20001 + i), 8, 6, 96, 96));
  const DeviceTally t1 = drive_device(**device, warmup, 64, 60s);
  INFO(t1.first_problem);
  REQUIRE(t1.complete(kWarmup));
  // Freeze A; once B has answered its share and the device's window is stuck on frames A holds, SIGTERM + SIGCONT.
  a->signal(SIGSTOP);
  bool terminated = false;
  Clock::time_point last_progress = Clock::now();
  size_t answered_before = 0, held_by_a = 0;
  const DeviceTally t = drive_device(**device, rest, 64, 60s, [&](const DeviceTally& tally) {
    if (tally.answered != answered_before) {
      answered_before = tally.answered;
      last_progress = Clock::now();
    }
    if (!terminated && Clock::now() - last_progress >= 300ms) {
      held_by_a = (*device)->pending();
      a->signal(SIGTERM);
      a->signal(SIGCONT);
      terminated = true;
    }
  });
  REQUIRE(terminated);
  WARN("sigterm test: " << held_by_a << " frames unanswered at worker A when it got SIGTERM; "
                        << (*device)->stats().republished << " re-publishes");
  INFO(t.first_problem);
  CHECK(held_by_a > 20);
  CHECK(t.complete(rest.size()));
  CHECK((*device)->stats().republished == 0);  // nothing was lost: no re-publish was needed (or made)

  REQUIRE(a->wait(20s) == 0);
  const std::string out = a->output();
  INFO(out);
  CHECK(summary_number(out, " frames received") >= (long long)held_by_a);
  CHECK(summary_number(out, " answered") == summary_number(out, " frames received"));
  CHECK(summary_number(out, " unanswered") == 0);
  CHECK(summary_number(out, " dropped at close") == 0);
  CHECK(summary_number(out, " replies acknowledged") == summary_number(out, " answered"));
  b->signal(SIGTERM);
  CHECK(b->wait(20s) == 0);
}

// Not run by default: test_mqtt_worker_process "[perf]". Frames/s through 1 and 2 worker processes (identity backend,
// one decode thread each), 4 devices with 32 frames in flight each. Runs alternate 1, 2, 1, 2, ... and the medians are
// compared, because a shared machine's speed drifts between runs. $SLIMCODEC_PERF_BROKER_CONFIG is appended to the
// broker's config (e.g. "set_tcp_nodelay true").
TEST_CASE("throughput with 1 and 2 MQTT worker processes", "[.][perf]") {
  REQUIRE(broker_available());
  constexpr int kDevices = 4, kFramesPerDevice = 500, kRounds = 5;
  for (const bool big : {false, true}) {
    std::vector<std::vector<TestFrame>> frames(kDevices);
    for (int d = 0; d < kDevices; ++d)
      for (int i = 0; i < kFramesPerDevice; ++i) {
        const uint32_t id = uint32_t(d * 10000 + i);
        frames[d].push_back(big ? make_frame(id, 4, 6, 96, 96) : make_frame(id, 4, 6, 12, 11));
      }
    std::vector<double> rates[3];
    for (int round = 0; round < kRounds; ++round) {
      for (int workers : {1, 2}) {
        Broker broker(std::getenv("SLIMCODEC_PERF_BROKER_CONFIG") ? std::getenv("SLIMCODEC_PERF_BROKER_CONFIG") : "");
        std::vector<std::unique_ptr<ChildProcess>> procs;
        for (int w = 0; w < workers; ++w) procs.push_back(start_worker_process(broker, "perf-" + std::to_string(w)));
        std::vector<std::unique_ptr<device::MqttDeviceClient>> devices;
        for (int d = 0; d < kDevices; ++d) {
          auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "perf" + std::to_string(d), 30s));
          REQUIRE(device);
          devices.push_back(std::move(*device));
        }
        std::vector<DeviceTally> tallies(kDevices);
        const auto start = Clock::now();
        std::vector<std::thread> threads;
        for (int d = 0; d < kDevices; ++d)
          threads.emplace_back([&, d] { tallies[d] = drive_device(*devices[d], frames[d], 32, 120s); });
        for (auto& t : threads) t.join();
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count() - 0.2;  // final listen
        for (auto& t : tallies) REQUIRE(t.complete(kFramesPerDevice));
        rates[workers].push_back(kDevices * kFramesPerDevice / seconds);
        for (auto& p : procs) p->signal(SIGTERM);
        for (auto& p : procs) CHECK(p->wait(20s) == 0);
      }
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf("mqtt throughput, %s frames, median of %d alternating runs: 1 worker %.0f frames/s, 2 workers %.0f "
                "frames/s, ratio %.2f (per round:",
                big ? "6x96x96 4-bit (27,700 B)" : "6x12x11 4-bit (436 B)", kRounds, median(rates[1]),
                median(rates[2]), median(rates[2]) / median(rates[1]));
    for (int r = 0; r < kRounds; ++r) std::printf(" %.2f", rates[2][r] / rates[1][r]);
    std::printf(")\n");
  }
}
