// Benchmark of quant/: SIMD vs scalar reference for quantize+pack and unpack+dequantize of one 6x96x96 encoder
// output, against a plain memcpy of the same floats, all in one run. Prints speed ratios at the end, since the
// shared machine makes absolute times meaningless across runs.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <slimcodec/quant/quant.hpp>

#include "ratio_reporter.hpp"

namespace {

namespace quant = slimcodec::quant;

constexpr size_t kValues = 6 * 96 * 96;  // one encoder output
constexpr unsigned kBitWidths[] = {1, 2, 4, 8};

const std::vector<float>& input() {
  static const std::vector<float> x = [] {
    std::vector<float> v(kValues);
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (float& f : v) f = normal(rng);
    return v;
  }();
  return x;
}

const quant::Bounds kBounds = quant::bounds_from_ensemble(1);  // [-3, 3]

using QuantizeFn = slimcodec::Result<size_t> (*)(const float*, size_t, unsigned, quant::Bounds, uint8_t*, size_t);
using UnpackFn = slimcodec::Result<size_t> (*)(const uint8_t*, size_t, size_t, unsigned, quant::Bounds, float*,
                                               size_t);

void bench_quantize(benchmark::State& state, QuantizeFn fn, unsigned bits) {
  const std::vector<float>& x = input();
  std::vector<uint8_t> out(quant::packed_bytes(kValues, bits));
  for (auto _ : state) {
    const auto r = fn(x.data(), x.size(), bits, kBounds, out.data(), out.size());
    if (!r) state.SkipWithError(r.error().what());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kValues * sizeof(float)));
}

void bench_unpack(benchmark::State& state, UnpackFn fn, unsigned bits) {
  std::vector<uint8_t> packed(quant::packed_bytes(kValues, bits));
  if (!quant::ref::quantize_pack(input().data(), kValues, bits, kBounds, packed.data(), packed.size())) {
    state.SkipWithError("packing the input failed");
  }
  std::vector<float> out(kValues);
  for (auto _ : state) {
    const auto r = fn(packed.data(), packed.size(), kValues, bits, kBounds, out.data(), out.size());
    if (!r) state.SkipWithError(r.error().what());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kValues * sizeof(float)));
}

void bench_memcpy(benchmark::State& state) {
  const std::vector<float>& x = input();
  std::vector<float> out(kValues);
  for (auto _ : state) {
    std::memcpy(out.data(), x.data(), kValues * sizeof(float));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kValues * sizeof(float)));
}

std::string name(const char* op, const char* impl, unsigned bits) {
  return std::string(op) + "/" + impl + "/b" + std::to_string(bits);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("memcpy_f32", bench_memcpy);
  for (unsigned bits : kBitWidths) {
    benchmark::RegisterBenchmark(name("quantize_pack", "simd", bits).c_str(), bench_quantize,
                                 &quant::quantize_pack, bits);
    benchmark::RegisterBenchmark(name("quantize_pack", "ref", bits).c_str(), bench_quantize,
                                 &quant::ref::quantize_pack, bits);
    benchmark::RegisterBenchmark(name("unpack_dequantize", "simd", bits).c_str(), bench_unpack,
                                 &quant::unpack_dequantize, bits);
    benchmark::RegisterBenchmark(name("unpack_dequantize", "ref", bits).c_str(), bench_unpack,
                                 &quant::ref::unpack_dequantize, bits);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  slimcodec::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\nHighway target: %s; %zu floats; ratios of CPU time from this run only\n",
              hwy::TargetName(HWY_STATIC_TARGET), kValues);
  std::printf("%-18s %4s %16s %16s\n", "op", "bits", "ref/simd (speedup)", "simd/memcpy (time)");
  for (const char* op : {"quantize_pack", "unpack_dequantize"}) {
    for (unsigned bits : kBitWidths) {
      const std::string simd = name(op, "simd", bits);
      const std::string ref = name(op, "ref", bits);
      if (!reporter.has(simd)) continue;
      const double speedup = reporter.has(ref) ? reporter.cpu_time(ref) / reporter.cpu_time(simd) : NAN;
      const double vs_memcpy =
          reporter.has("memcpy_f32") ? reporter.cpu_time(simd) / reporter.cpu_time("memcpy_f32") : NAN;
      std::printf("%-18s %4u %16.1fx %16.2fx\n", op, bits, speedup, vs_memcpy);
    }
  }
  return 0;
}
