// Wire format throughput: CRC-32C (reference vs hardware), writer, whole-buffer and stream parsers, on the
// paper's 4-bit frame (6 x 96 x 96 codes, 27,648-byte payload). memcpy of the same bytes is the baseline: the
// ratios at the end.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <slimcodec/wire/wire.hpp>

#include "ratio_reporter.hpp"

using namespace slimcodec;
using namespace slimcodec::wire;

namespace {

FrameHeader paper_header(unsigned bits) {
  FrameHeader h;
  h.channels = 6;
  h.height = 96;
  h.width = 96;
  h.bits = uint8_t(bits);
  h.ensemble_size = 2;
  h.payload_size = uint32_t(expected_payload_size(h));
  return h;
}

std::vector<uint8_t> paper_frame() {
  const FrameHeader h = paper_header(4);
  std::vector<uint8_t> f(frame_size(h));
  std::mt19937 rng(1);
  for (size_t i = kHeaderSize; i < kHeaderSize + h.payload_size; ++i) f[i] = uint8_t(rng());
  (void)seal_frame(h, f.data(), f.size());
  return f;
}

void BM_memcpy(benchmark::State& st) {
  const auto f = paper_frame();
  std::vector<uint8_t> dst(f.size());
  for (auto _ : st) {
    std::memcpy(dst.data(), f.data(), f.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations() * f.size()));
}

void BM_crc32c_sw(benchmark::State& st) {
  const auto f = paper_frame();
  for (auto _ : st) benchmark::DoNotOptimize(crc32c_sw(f.data(), f.size()));
  st.SetBytesProcessed(int64_t(st.iterations() * f.size()));
}

void BM_crc32c(benchmark::State& st) {
  const auto f = paper_frame();
  for (auto _ : st) benchmark::DoNotOptimize(crc32c(f.data(), f.size()));
  st.SetBytesProcessed(int64_t(st.iterations() * f.size()));
  st.SetLabel(kCrc32cHardware ? "hardware" : "reference");
}

void BM_seal_frame(benchmark::State& st) {
  auto f = paper_frame();
  const FrameHeader h = paper_header(4);
  for (auto _ : st) benchmark::DoNotOptimize(seal_frame(h, f.data(), f.size()).ok());
  st.SetBytesProcessed(int64_t(st.iterations() * f.size()));
}

void BM_parse_frame(benchmark::State& st) {
  const auto f = paper_frame();
  for (auto _ : st) benchmark::DoNotOptimize(parse_frame(f.data(), f.size()).ok());
  st.SetBytesProcessed(int64_t(st.iterations() * f.size()));
}

// FrameParser fed in chunks of range(0) bytes (1460: a TCP segment; 244: a BLE 5 ATT payload).
void BM_stream_parser(benchmark::State& st) {
  const auto f = paper_frame();
  const size_t chunk = size_t(st.range(0));
  FrameParser p;
  for (auto _ : st) {
    size_t at = 0;
    while (at < f.size()) at += *p.feed(f.data() + at, std::min(chunk, f.size() - at));
    benchmark::DoNotOptimize(p.has_frame());
  }
  st.SetBytesProcessed(int64_t(st.iterations() * f.size()));
}

}  // namespace

BENCHMARK(BM_memcpy);
BENCHMARK(BM_crc32c_sw);
BENCHMARK(BM_crc32c);
BENCHMARK(BM_seal_frame);
BENCHMARK(BM_parse_frame);
BENCHMARK(BM_stream_parser)->Arg(20)->Arg(244)->Arg(1460)->Arg(1 << 16);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  slimcodec::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::printf("\nCPU time / memcpy of the same %zu bytes (ratios from this run only)\n", paper_frame().size());
  for (const char* name : {"BM_crc32c_sw", "BM_crc32c", "BM_seal_frame", "BM_parse_frame", "BM_stream_parser/20",
                           "BM_stream_parser/244", "BM_stream_parser/1460", "BM_stream_parser/65536"})
    if (reporter.has(name))
      std::printf("  %-24s %6.2fx\n", name, reporter.cpu_time(name) / reporter.cpu_time("BM_memcpy"));
  return 0;
}
