// Decision time of the adaptive controller (target: < 1 microsecond, no allocation), against a baseline of
// one bandwidth-estimator update measured in the same run.
#include <slimcodec/device/bandwidth.hpp>
#include <slimcodec/device/controller.hpp>

#include <benchmark/benchmark.h>

using namespace slimcodec::device;

namespace {

OperatingPointTable table_with_all_points() {
  OperatingPointTable table;
  for (unsigned s = 1; s <= kMaxMembers; ++s) {
    table.calibrate_encoder(s, 2.0 * s);
    for (unsigned b = 1; b <= kMaxBits; ++b) {
      table.set_accuracy(s, b, 0.2 + 0.01 * s + 0.02 * b);
      table.observe_server_ms(s, b, 15);
    }
  }
  return table;
}

void BM_ControllerDecide(benchmark::State& state) {
  const OperatingPointTable table = table_with_all_points();
  Controller ctl;
  ctl.full_offload() = Alternative{true, 3, 50000, 40, 0.5};
  ctl.local_only() = Alternative{true, 80, 0, 0, 0.2};
  double rate = 80e3;
  for (auto _ : state) {
    rate = rate > 200e3 ? 80e3 : rate * 1.01;  // a drifting link so the decision really changes
    benchmark::DoNotOptimize(ctl.decide(table, rate));
  }
}
BENCHMARK(BM_ControllerDecide);

void BM_BandwidthUpdate(benchmark::State& state) {
  BandwidthEstimator est;
  double t = 0;
  for (auto _ : state) {
    est.on_ack(27700, t, t + 200, 15);
    t += 250;
    benchmark::DoNotOptimize(est.conservative_bytes_per_s(t));
  }
}
BENCHMARK(BM_BandwidthUpdate);

}  // namespace

BENCHMARK_MAIN();
