// Codec 1 (entropy/) against Debian's libhtscodecs on the same symbols in the same run: encode and decode
// throughput of slimcodec's static-model rANS (8 states, per-channel tables shipped with the weights), of
// htscodecs' rANS 4x16 order-0, and of its bit-pack + rANS mode (order 0 | RANS_ORDER_PACK), plus the bytes
// each produces against bit-packing. Symbols are the encoder's codes on real images, written by
// slimcodec-fit-entropy-tables --codes-out (scripts/bench entropy does that first).
//
//   bench_entropy --codes=FILE --tables=FILE [--plane=9216] [benchmark flags]
#include <benchmark/benchmark.h>

#include <slimcodec/entropy/entropy.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#include <slimcodec/wire/frame.hpp>

extern "C" {
#include <htscodecs/rANS_static4x16.h>
}

#include "ratio_reporter.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace slimcodec;

namespace {

struct Data {
  entropy::TableSet tables;
  size_t channels = 0, plane = 9216, n = 0, frames = 0;
  std::vector<uint8_t> codes[entropy::kMaxBits + 1];  // frames * n codes per b
};
Data g;

const uint8_t* frame_codes(unsigned b, size_t f) { return g.codes[b].data() + (f % g.frames) * g.n; }

void bench_slim_encode(benchmark::State& state, unsigned b) {
  std::vector<uint8_t> out(g.n * 2 + 64);
  size_t f = 0, bytes = 0;
  for (auto _ : state) {
    auto r = entropy::encode_payload(frame_codes(b, f++), g.channels, g.plane, b, g.tables, out.data(), out.size());
    if (!r) state.SkipWithError("encode failed");
    bytes += *r;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * g.n));
  state.counters["coded_B"] = double(bytes) / double(state.iterations());
}

void bench_slim_decode(benchmark::State& state, unsigned b) {
  std::vector<std::vector<uint8_t>> payloads(g.frames);
  std::vector<uint8_t> buf(g.n * 2 + 64);
  for (size_t f = 0; f < g.frames; ++f) {
    auto r = entropy::encode_payload(frame_codes(b, f), g.channels, g.plane, b, g.tables, buf.data(), buf.size());
    payloads[f].assign(buf.begin(), buf.begin() + long(*r));
  }
  std::vector<uint8_t> codes(g.n);
  size_t f = 0;
  for (auto _ : state) {
    const auto& p = payloads[f++ % g.frames];
    auto r = entropy::decode_payload(p.data(), p.size(), b, g.channels, g.plane, g.tables, codes.data(), codes.size());
    if (!r) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(codes.data());
  }
  if (std::memcmp(codes.data(), frame_codes(b, (f - 1) % g.frames), g.n) != 0) state.SkipWithError("round trip differs");
  state.SetBytesProcessed(int64_t(state.iterations() * g.n));
}

void bench_hts_encode(benchmark::State& state, unsigned b, int order) {
  std::vector<uint8_t> out(rans_compress_bound_4x16(unsigned(g.n), order));
  size_t f = 0, bytes = 0;
  for (auto _ : state) {
    unsigned out_size = unsigned(out.size());
    if (!rans_compress_to_4x16(const_cast<uint8_t*>(frame_codes(b, f++)), unsigned(g.n), out.data(), &out_size, order))
      state.SkipWithError("htscodecs compress failed");
    bytes += out_size;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * g.n));
  state.counters["coded_B"] = double(bytes) / double(state.iterations());
}

void bench_hts_decode(benchmark::State& state, unsigned b, int order) {
  std::vector<std::vector<uint8_t>> payloads(g.frames);
  std::vector<uint8_t> buf(rans_compress_bound_4x16(unsigned(g.n), order));
  for (size_t f = 0; f < g.frames; ++f) {
    unsigned out_size = unsigned(buf.size());
    rans_compress_to_4x16(const_cast<uint8_t*>(frame_codes(b, f)), unsigned(g.n), buf.data(), &out_size, order);
    payloads[f].assign(buf.begin(), buf.begin() + out_size);
  }
  std::vector<uint8_t> codes(g.n);
  size_t f = 0;
  for (auto _ : state) {
    auto& p = payloads[f++ % g.frames];
    unsigned out_size = unsigned(codes.size());
    if (!rans_uncompress_to_4x16(p.data(), unsigned(p.size()), codes.data(), &out_size) || out_size != g.n)
      state.SkipWithError("htscodecs uncompress failed");
    benchmark::DoNotOptimize(codes.data());
  }
  if (std::memcmp(codes.data(), frame_codes(b, (f - 1) % g.frames), g.n) != 0) state.SkipWithError("round trip differs");
  state.SetBytesProcessed(int64_t(state.iterations() * g.n));
}

// Mean bytes over all frames: slimcodec codec 1 (payload, codec 0 where not smaller), htscodecs at `order`.
double mean_slim_bytes(unsigned b) {
  const size_t raw = size_t(wire::raw_bitpack_size(g.n, b));
  std::vector<uint8_t> out(raw);
  double total = 0;
  for (size_t f = 0; f < g.frames; ++f) {
    auto r = entropy::encode_payload(frame_codes(b, f), g.channels, g.plane, b, g.tables, out.data(), raw - 1);
    total += r ? double(*r) : double(raw);
  }
  return total / double(g.frames);
}

double mean_hts_bytes(unsigned b, int order) {
  std::vector<uint8_t> out(rans_compress_bound_4x16(unsigned(g.n), order));
  double total = 0;
  for (size_t f = 0; f < g.frames; ++f) {
    unsigned out_size = unsigned(out.size());
    rans_compress_to_4x16(const_cast<uint8_t*>(frame_codes(b, f)), unsigned(g.n), out.data(), &out_size, order);
    total += out_size;
  }
  return total / double(g.frames);
}

std::string name(const char* op, const char* impl, unsigned b) {
  return std::string(op) + "/" + impl + "/b" + std::to_string(b);
}

constexpr int kHtsO0 = 0, kHtsPack = RANS_ORDER_PACK;

}  // namespace

int main(int argc, char** argv) {
  std::string codes_path, tables_path;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--codes=", 8) == 0) codes_path = argv[i] + 8;
    else if (std::strncmp(argv[i], "--tables=", 9) == 0) tables_path = argv[i] + 9;
    else if (std::strncmp(argv[i], "--plane=", 8) == 0) g.plane = std::strtoul(argv[i] + 8, nullptr, 10);
    else argv[kept++] = argv[i];
  }
  argc = kept;
  if (codes_path.empty() || tables_path.empty()) {
    std::fprintf(stderr, "usage: bench_entropy --codes=FILE --tables=FILE [--plane=9216] (scripts/bench entropy)\n");
    return 2;
  }
  auto file = weights::SafeTensorsFile::open(tables_path);
  auto tables = file ? weights::load_entropy_tables(*file) : Result<entropy::TableSet>(file.error());
  if (!tables) return std::fprintf(stderr, "%s: %s\n", tables_path.c_str(), tables.error().what()), 1;
  g.tables = std::move(*tables);
  g.channels = g.tables.channels();
  g.n = g.channels * g.plane;
  std::vector<unsigned> bits;
  for (unsigned b = 1; b <= 8; ++b)
    if (g.tables.has(b)) bits.push_back(b);
  std::FILE* in = std::fopen(codes_path.c_str(), "rb");
  if (!in) return std::fprintf(stderr, "cannot open %s\n", codes_path.c_str()), 1;
  std::fseek(in, 0, SEEK_END);
  const size_t size = size_t(std::ftell(in));
  std::fseek(in, 0, SEEK_SET);
  g.frames = size / (bits.size() * g.n);
  if (g.frames == 0 || g.frames * bits.size() * g.n != size)
    return std::fprintf(stderr, "%s: %zu bytes is not a whole number of %zu-code frames per b\n", codes_path.c_str(),
                        size, g.n), 1;
  for (unsigned b : bits) {
    g.codes[b].resize(g.frames * g.n);
    if (std::fread(g.codes[b].data(), 1, g.codes[b].size(), in) != g.codes[b].size()) return 1;
  }
  std::fclose(in);

  for (unsigned b : bits) {
    benchmark::RegisterBenchmark(name("encode", "slimcodec", b).c_str(), bench_slim_encode, b);
    benchmark::RegisterBenchmark(name("encode", "hts_o0", b).c_str(), bench_hts_encode, b, kHtsO0);
    benchmark::RegisterBenchmark(name("encode", "hts_pack_o0", b).c_str(), bench_hts_encode, b, kHtsPack);
    benchmark::RegisterBenchmark(name("decode", "slimcodec", b).c_str(), bench_slim_decode, b);
    benchmark::RegisterBenchmark(name("decode", "hts_o0", b).c_str(), bench_hts_decode, b, kHtsO0);
    benchmark::RegisterBenchmark(name("decode", "hts_pack_o0", b).c_str(), bench_hts_decode, b, kHtsPack);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  std::printf("\n%zu frames of %zu codes (C = %zu) per b; one thread; ratios from this run only\n", g.frames, g.n,
              g.channels);
  std::printf("bytes per frame / bit-packed bytes (slimcodec: codec 1, codec 0 where not smaller):\n");
  std::printf("   b  bit-pack B  slimcodec  hts_o0  hts_pack_o0\n");
  for (unsigned b : bits) {
    const double raw = double(wire::raw_bitpack_size(g.n, b));
    std::printf("  %2u  %10.0f  %9.3f  %6.3f  %11.3f\n", b, raw, mean_slim_bytes(b) / raw, mean_hts_bytes(b, kHtsO0) / raw,
                mean_hts_bytes(b, kHtsPack) / raw);
  }
  std::printf("speed (codes per second) and ratios slimcodec / htscodecs (> 1: slimcodec faster):\n");
  std::printf("   b  dec MB/s slim  hts_o0  dec ratio  vs pack   enc MB/s slim  hts_o0  enc ratio  vs pack\n");
  for (unsigned b : bits) {
    const auto cpu = [&](const char* op, const char* impl) { return reporter.cpu_time(name(op, impl, b)); };
    const double ds = cpu("decode", "slimcodec"), dh = cpu("decode", "hts_o0"), dp = cpu("decode", "hts_pack_o0");
    const double es = cpu("encode", "slimcodec"), eh = cpu("encode", "hts_o0"), ep = cpu("encode", "hts_pack_o0");
    auto mbs = [](double ns) { return double(g.n) / ns * 1e3; };  // CPU ns per frame -> MB/s of codes
    std::printf("  %2u  %13.0f  %6.0f  %9.2f  %7.2f   %13.0f  %6.0f  %9.2f  %7.2f\n", b, mbs(ds), mbs(dh), dh / ds,
                dp / ds, mbs(es), mbs(eh), eh / es, ep / es);
  }
  return 0;
}
