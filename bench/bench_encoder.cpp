// The paper encoder at 3x384x384 for s = 1..4 (one thread, plus an opt-in threaded mode), the member's stages
// one by one, every conv kernel of tests/kernels/kernel_list.hpp at 96x96, and the reconstructor at 6x96x96.
// Counter: GFLOP/s of CPU time, a multiply-add counting 2 flops of the direct convolution (so Winograd
// kernels show an effective rate).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../tests/kernels/kernel_list.hpp"
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/layers/random_init.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/model/network.hpp>

namespace {

using namespace slimcodec;
using layers::Shape;

std::vector<float> random_input(Shape s, uint64_t seed) {
  std::vector<float> v(size_t(s.size()));
  layers::SplitMix64 rng(seed);
  rng.fill(v.data(), v.size(), -2.f, 2.f);
  return v;
}

// GFLOP/s from CPU time (the machine is shared; wall time includes other workers' time slices).
void set_counters(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Arg 0: active size s; arg 1: threads.
void BM_PaperEncoder(benchmark::State& state) {
  const int s = int(state.range(0)), threads = int(state.range(1));
  auto enc = model::Encoder<layers::paper::Encoder>::create(384, 384);
  if (!enc) {
    state.SkipWithError(enc.error().what());
    return;
  }
  enc->init_random(1);
  if (!enc->set_active(s) || !enc->set_threads(threads)) {
    state.SkipWithError("bad configuration");
    return;
  }
  const auto in = random_input(layers::paper::kInput, 2);
  std::vector<float> out(size_t(layers::paper::kLatent.size()));
  for (auto _ : state) {
    enc->encode(in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, double(layers::paper::Encoder::flops(layers::paper::kInput, s)));
}

// One stage of the paper member on its real input size, to see where the time goes.
template <size_t I>
void BM_MemberStage(benchmark::State& state) {
  using M = layers::paper::Member;
  using Stage = typename M::template Stage<I>;
  const Shape in = M::template stage_in_shape<I>(layers::paper::kInput);
  auto w = std::make_unique<typename Stage::Weights>();
  layers::SplitMix64 rng(3);
  Stage::init_random(*w, rng);
  const auto x = random_input(in, 4);
  std::vector<float> y(size_t(Stage::out_shape(in).size()));
  model::AlignedBuffer scratch(Stage::scratch_bytes(in));
  for (auto _ : state) {
    Stage::forward(kernels::default_arch{}, *w, in, x.data(), y.data(), reinterpret_cast<float*>(scratch.data()));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, double(Stage::flops(in)));
}

// One listed conv kernel on a 96x96 input (Cin planes), direct-convolution flops.
template <class Kernel>
void BM_ConvKernel(benchmark::State& state) {
  using P = test::KernelParams<Kernel>;
  constexpr int kSide = 96;
  const auto x = random_input({P::cin, kSide, kSide}, 7);
  const auto w = random_input({P::cout * P::cin, P::k, P::k}, 8);
  const int so = P::k == 1 && P::s == 1 ? kSide : P::s == 2 && std::is_same_v<Kernel, kernels::convt_kxk_s2_f32<P::cin, P::cout, P::k>>
                                                      ? 2 * kSide
                                                      : (kSide + 2 * (P::k / 2) - P::k) / P::s + 1;
  std::vector<float> y(size_t(P::cout) * so * so), scratch(Kernel::scratch_floats(kSide));
  std::vector<double> sum(P::cout), sq(P::cout);
  for (auto _ : state) {
    if constexpr (std::is_same_v<Kernel, kernels::conv1x1_f32<P::cin, P::cout>>) {
      Kernel{}(x.data(), size_t(kSide) * kSide, w.data(), y.data(), kernels::ChannelStats{sum.data(), sq.data()},
               scratch.data());
    } else {
      Kernel{}(x.data(), kSide, kSide, w.data(), y.data(), kernels::ChannelStats{sum.data(), sq.data()},
               scratch.data());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double taps = std::is_same_v<Kernel, kernels::convt_kxk_s2_f32<P::cin, P::cout, P::k>> ? P::k * P::k / 4.0
                                                                                                 : P::k * P::k;
  set_counters(state, 2.0 * P::cin * P::cout * taps * so * so);
}

template <class... K>
bool register_kernels(std::tuple<K...>*) {
  (benchmark::RegisterBenchmark(("BM_" + test::KernelParams<K>::name()).c_str(), BM_ConvKernel<K>)
       ->Unit(benchmark::kMicrosecond),
   ...);
  return true;
}

void BM_PaperReconstructor(benchmark::State& state) {
  auto rec = model::Reconstructor<layers::paper::Reconstructor>::create(96, 96);
  if (!rec) {
    state.SkipWithError(rec.error().what());
    return;
  }
  rec->init_random(5);
  const auto in = random_input(layers::paper::kLatent, 6);
  std::vector<float> out(size_t(layers::paper::kReconstructed.size()));
  for (auto _ : state) {
    rec->run(in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, double(layers::paper::Reconstructor::flops(layers::paper::kLatent)));
}

}  // namespace

BENCHMARK(BM_PaperEncoder)->ArgNames({"s", "threads"})->Args({1, 1})->Args({2, 1})->Args({3, 1})->Args({4, 1})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_MemberStage, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MemberStage, 1)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MemberStage, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MemberStage, 3)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MemberStage, 4)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_MemberStage, 5)->Unit(benchmark::kMicrosecond);
// Opt-in: members on several threads (SLIMCODEC_BENCH_THREADS=1 in the environment).
static const bool kThreaded = [] {
  if (std::getenv("SLIMCODEC_BENCH_THREADS") != nullptr) {
    BENCHMARK(BM_PaperEncoder)->ArgNames({"s", "threads"})->Args({2, 2})->Args({4, 2})->Args({4, 4})
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return true;
}();
static const bool kKernels = register_kernels(static_cast<test::ConvKxKList*>(nullptr)) &&
                             register_kernels(static_cast<test::ConvWinoList*>(nullptr)) &&
                             register_kernels(static_cast<test::Conv1x1List*>(nullptr)) &&
                             register_kernels(static_cast<test::ConvTList*>(nullptr));
BENCHMARK(BM_PaperReconstructor)->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
