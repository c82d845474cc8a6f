// quant/'s packer against this format: it must write the golden payload bytes (made by the Python generator
// from docs/wire-format.md) and the bytes of the spec-derived reference packer, for every b.
#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <random>

#include "golden_io.hpp"
#include <slimcodec/quant/quant.hpp>
#include "wire_test_util.hpp"

using namespace slimcodec;
using namespace slimcodec::wire;
namespace fs = std::filesystem;

TEST_CASE("quant::quantize_pack reproduces the golden payloads; unpack_dequantize their values", "[wire][quant]") {
  const auto files = golden::list_files(fs::path(SLIMCODEC_TEST_DATA_DIR) / "golden" / "ok", ".bin");
  REQUIRE(!files.empty());
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto data = golden::read_file(path);
    for (const auto& want : golden::read_sidecar(fs::path(path).replace_extension(".txt")).frames) {
      const FrameHeader& h = want.header;
      if (h.codec != Codec::raw_bitpack) continue;  // codec-1 goldens: test_golden.cpp and tests/entropy
      const size_t n = want.values.size();
      const quant::Bounds b{h.lo, h.hi};
      // Sidecar values are exact reconstructions lo + q*step, so quantizing them gives back q.
      std::vector<uint8_t> packed(h.payload_size);
      auto w = quant::quantize_pack(want.values.data(), n, h.bits, b, packed.data(), packed.size());
      REQUIRE(w.ok());
      REQUIRE(*w == h.payload_size);
      const uint8_t* payload = data.data() + want.offset + kHeaderSize;
      // Also on flush-to-zero SIMD (ARMv7 NEON) for the frame whose step is 2^-126: the packer takes the scalar
      // path for such bounds.
      CHECK(std::equal(packed.begin(), packed.end(), payload));

      std::vector<float> x(n);
      auto r = quant::unpack_dequantize(payload, h.payload_size, n, h.bits, b, x.data(), x.size());
      REQUIRE(r.ok());
      const float tol = 4 * FLT_EPSILON * std::max(std::fabs(h.lo), std::fabs(h.hi));
      for (size_t i = 0; i < n; ++i) {
        if (std::fabs(x[i] - want.values[i]) > tol) FAIL_CHECK("value " << i << ": " << x[i] << " vs " << want.values[i]);
      }
    }
  }
}

TEST_CASE("quant::quantize_pack equals the reference packer at every b and tail length", "[wire][quant]") {
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  for (unsigned bits = 1; bits <= 8; ++bits) {
    for (size_t n : {size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{127}, size_t{128}, size_t{129},
                     size_t{3 * 128 + 5}}) {
      std::vector<float> x(n);
      for (auto& v : x) v = normal(rng);
      const float lo = -2.0f, hi = 2.5f;
      std::vector<uint8_t> codes(n), want(raw_bitpack_size(n, bits)), got(want.size());
      for (size_t i = 0; i < n; ++i) codes[i] = ref::quantize_one(x[i], bits, lo, hi);
      ref::pack_codes(codes.data(), n, bits, want.data());
      auto w = quant::quantize_pack(x.data(), n, bits, quant::Bounds{lo, hi}, got.data(), got.size());
      REQUIRE(w.ok());
      INFO("bits " << bits << " n " << n);
      CHECK(got == want);
    }
  }
}
