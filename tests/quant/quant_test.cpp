// Tests of quant/quant.hpp (static dispatch) against quant/ref.hpp and against hand-computed bytes:
// layout, bit-exact codes, rounding, special values, tails, unaligned buffers and every error code.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "quant/quant_test_util.hpp"
#include <slimcodec/quant/quant.hpp>

namespace quant = slimcodec::quant;
using quant::Bounds;
using slimcodec::Errc;

namespace {

constexpr unsigned kAllBits[] = {1, 2, 3, 4, 5, 6, 7, 8};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Bounds [0, L]: inv = 1, so the float k quantizes to code k and code k dequantizes to exactly k.
Bounds identity_bounds(unsigned bits) { return {0.f, static_cast<float>((1u << bits) - 1u)}; }

std::vector<uint8_t> pack_simd(const std::vector<float>& x, unsigned bits, Bounds b) {
  std::vector<uint8_t> out(quant::packed_bytes(x.size(), bits));
  const auto r = quant::quantize_pack(x.data(), x.size(), bits, b, out.data(), out.size());
  REQUIRE(r.ok());
  REQUIRE(*r == out.size());
  return out;
}

std::vector<uint8_t> pack_ref(const std::vector<float>& x, unsigned bits, Bounds b) {
  std::vector<uint8_t> out(quant::packed_bytes(x.size(), bits));
  const auto r = quant::ref::quantize_pack(x.data(), x.size(), bits, b, out.data(), out.size());
  REQUIRE(r.ok());
  REQUIRE(*r == out.size());
  return out;
}

// Codes of x, recovered through the reference unpacker with identity bounds.
std::vector<float> codes_of(const std::vector<uint8_t>& packed, size_t n, unsigned bits) {
  std::vector<float> codes(n);
  const auto r = quant::ref::unpack_dequantize(packed.data(), packed.size(), n, bits, identity_bounds(bits),
                                               codes.data(), codes.size());
  REQUIRE(r.ok());
  return codes;
}

}  // namespace

TEST_CASE("golden group, 3 bits: row j holds code j", "[quant][golden]") {
  // W_l = sum_j j << 3j = 0o76543210 = 0xFAC688 for every lane: bytes 0x88, 0xC6, 0xFA.
  std::vector<float> x(128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i / 16);
  std::array<uint8_t, 48> expected{};
  for (size_t l = 0; l < 16; ++l) {
    expected[l] = 0x88;
    expected[16 + l] = 0xC6;
    expected[32 + l] = 0xFA;
  }
  const auto simd = pack_simd(x, 3, identity_bounds(3));
  const auto ref = pack_ref(x, 3, identity_bounds(3));
  CHECK(std::equal(simd.begin(), simd.end(), expected.begin(), expected.end()));
  CHECK(std::equal(ref.begin(), ref.end(), expected.begin(), expected.end()));
}

TEST_CASE("golden group, 3 bits: code (j + l) mod 8 and a partial group", "[quant][golden]") {
  // Row j, lane l holds (j + l) mod 8, so the octal digits of W_l rotate with l: W_0 = 0o76543210 = 0xFAC688
  // (the previous case), W_1 = 0o07654321 = 0x1F58D1, ..., W_7 = 0o65432107 = 0xD63447; lanes 8..15 repeat 0..7.
  std::vector<float> x(128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i / 16 + i % 16) % 8);
  const std::array<uint8_t, 48> expected = {
      0x88, 0xD1, 0x1A, 0x63, 0xAC, 0xF5, 0x3E, 0x47, 0x88, 0xD1, 0x1A, 0x63, 0xAC, 0xF5, 0x3E, 0x47,  //
      0xC6, 0x58, 0xEB, 0x7D, 0x8F, 0x11, 0xA2, 0x34, 0xC6, 0x58, 0xEB, 0x7D, 0x8F, 0x11, 0xA2, 0x34,  //
      0xFA, 0x1F, 0x23, 0x44, 0x68, 0x8D, 0xB1, 0xD6, 0xFA, 0x1F, 0x23, 0x44, 0x68, 0x8D, 0xB1, 0xD6};
  const auto simd = pack_simd(x, 3, identity_bounds(3));
  CHECK(std::equal(simd.begin(), simd.end(), expected.begin(), expected.end()));
  CHECK(pack_ref(x, 3, identity_bounds(3)) == simd);

  // The same first 20 values as a partial group: the other 108 codes are zero padding. Lanes 0..15 of row 0
  // hold 0..7,0..7 and lanes 0..3 of row 1 hold 1..4; every other bit is zero.
  const std::vector<float> head(x.begin(), x.begin() + 20);
  std::array<uint8_t, 48> padded{};
  for (size_t l = 0; l < 16; ++l) padded[l] = static_cast<uint8_t>(l % 8);  // row 0: bits 0..2
  for (size_t l = 0; l < 4; ++l) padded[l] |= static_cast<uint8_t>((l + 1) << 3);  // row 1: bits 3..5
  const auto simd_head = pack_simd(head, 3, identity_bounds(3));
  CHECK(std::equal(simd_head.begin(), simd_head.end(), padded.begin(), padded.end()));
  CHECK(pack_ref(head, 3, identity_bounds(3)) == simd_head);
}

TEST_CASE("golden layouts at 1, 4 and 8 bits", "[quant][golden]") {
  std::vector<float> x(128);
  SECTION("8 bits: the packed bytes are the codes in order") {
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37 + 11) % 256);
    const auto simd = pack_simd(x, 8, identity_bounds(8));
    for (size_t i = 0; i < x.size(); ++i) CHECK(simd[i] == static_cast<uint8_t>(x[i]));
  }
  SECTION("4 bits: byte k, lane l = q[32k + l] | q[32k + 16 + l] << 4") {
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7 + 3) % 16);
    const auto simd = pack_simd(x, 4, identity_bounds(4));
    REQUIRE(simd.size() == 64);
    for (size_t k = 0; k < 4; ++k) {
      for (size_t l = 0; l < 16; ++l) {
        const auto lo = static_cast<unsigned>(x[32 * k + l]);
        const auto hi = static_cast<unsigned>(x[32 * k + 16 + l]);
        CHECK(simd[16 * k + l] == static_cast<uint8_t>(lo | hi << 4));
      }
    }
  }
  SECTION("1 bit: lane l of the 16 bytes collects bit j from row j") {
    // Code 1 exactly where row j == lane l mod 8, so byte l has only bit (l mod 8) set.
    for (size_t i = 0; i < x.size(); ++i) x[i] = (i / 16 == (i % 16) % 8) ? 1.f : 0.f;
    const auto simd = pack_simd(x, 1, identity_bounds(1));
    REQUIRE(simd.size() == 16);
    for (size_t l = 0; l < 16; ++l) CHECK(simd[l] == static_cast<uint8_t>(1u << (l % 8)));
  }
}

TEST_CASE("SIMD bytes equal the scalar reference for every width, length and bound", "[quant][pack]") {
  uint32_t seed = 1;
  for (unsigned bits : kAllBits) {
    for (const Bounds& b : quant::test::bounds_list()) {
      for (size_t n : quant::test::lengths()) {
        INFO("bits " << bits << ", n " << n << ", bounds [" << b.lo << ", " << b.hi << "]");
        const std::vector<float> x = quant::test::awkward_values(n, b, seed++);
        const auto simd = pack_simd(x, bits, b);
        const auto ref = pack_ref(x, bits, b);
        REQUIRE(simd.size() == quant::packed_bytes(n, bits));
        REQUIRE(simd == ref);
      }
    }
  }
}

TEST_CASE("quantize_codes then pack_codes: the reference codes, and the bytes of quantize_pack", "[quant][codes]") {
  uint32_t seed = 7;
  for (unsigned bits : kAllBits) {
    for (const Bounds& b : quant::test::bounds_list()) {
      const quant::QuantParams params = quant::make_params(bits, b);
      for (size_t n : quant::test::lengths()) {
        INFO("bits " << bits << ", n " << n << ", bounds [" << b.lo << ", " << b.hi << "]");
        const std::vector<float> x = quant::test::awkward_values(n, b, seed++);
        std::vector<uint8_t> codes(n + 1, 0xA5);  // one guard byte past n
        const auto q = quant::quantize_codes(x.data(), n, bits, b, codes.data(), n);
        REQUIRE(q.ok());
        REQUIRE(*q == n);
        for (size_t i = 0; i < n; ++i) REQUIRE(codes[i] == quant::ref::quantize_value(x[i], params));
        CHECK(codes[n] == 0xA5);
        std::vector<uint8_t> packed(quant::packed_bytes(n, bits) + 1, 0x5A);
        const auto w = quant::pack_codes(codes.data(), n, bits, packed.data(), packed.size() - 1);
        REQUIRE(w.ok());
        REQUIRE(*w == quant::packed_bytes(n, bits));
        CHECK(packed.back() == 0x5A);
        packed.pop_back();
        REQUIRE(packed == pack_ref(x, bits, b));
      }
    }
  }
}

TEST_CASE("quantize_codes and pack_codes: error codes", "[quant][codes][errors]") {
  const std::vector<float> x(10, 0.25f);
  std::vector<uint8_t> codes(10), out(quant::packed_bytes(10, 3));
  const Bounds b{-1.f, 1.f};
  CHECK(quant::quantize_codes(x.data(), 10, 0, b, codes.data(), 10).code() == Errc::bits_out_of_range);
  CHECK(quant::quantize_codes(x.data(), 10, 9, b, codes.data(), 10).code() == Errc::bits_out_of_range);
  CHECK(quant::quantize_codes(x.data(), 10, 3, Bounds{1.f, -1.f}, codes.data(), 10).code() == Errc::bounds_invalid);
  CHECK(quant::quantize_codes(nullptr, 10, 3, b, codes.data(), 10).code() == Errc::invalid_argument);
  CHECK(quant::quantize_codes(x.data(), 10, 3, b, codes.data(), 9).code() == Errc::buffer_too_small);
  CHECK(quant::quantize_codes(nullptr, 0, 3, b, nullptr, 0).ok());
  CHECK(quant::pack_codes(codes.data(), 10, 9, out.data(), out.size()).code() == Errc::bits_out_of_range);
  CHECK(quant::pack_codes(nullptr, 10, 3, out.data(), out.size()).code() == Errc::invalid_argument);
  CHECK(quant::pack_codes(codes.data(), 10, 3, out.data(), out.size() - 1).code() == Errc::buffer_too_small);
  CHECK(*quant::pack_codes(nullptr, 0, 3, nullptr, 0) == 0);
}

TEST_CASE("unaligned buffers: same bytes, nothing outside the buffers touched", "[quant][pack]") {
  constexpr uint8_t kCanary = 0xA5;
  constexpr size_t kGuard = 64;
  const Bounds b{-3.f, 3.f};
  for (unsigned bits : kAllBits) {
    for (size_t n : {size_t{1}, size_t{17}, size_t{129}, size_t{3 * 128 + 5}}) {
      const std::vector<float> x = quant::test::awkward_values(n, b, 1000 + bits);
      const auto ref = pack_ref(x, bits, b);
      for (size_t in_offset = 0; in_offset < 4; ++in_offset) {
        for (size_t out_offset : {size_t{1}, size_t{3}, size_t{7}, size_t{33}}) {
          INFO("bits " << bits << ", n " << n << ", offsets " << in_offset << ", " << out_offset);
          // Input ends exactly at its allocation, so a sanitizer build sees any over-read.
          std::vector<float> in(in_offset + n);
          std::copy(x.begin(), x.end(), in.begin() + static_cast<std::ptrdiff_t>(in_offset));
          std::vector<uint8_t> out(out_offset + ref.size() + kGuard, kCanary);
          const auto r = quant::quantize_pack(in.data() + in_offset, n, bits, b, out.data() + out_offset,
                                              ref.size());
          REQUIRE(r.ok());
          REQUIRE(std::memcmp(out.data() + out_offset, ref.data(), ref.size()) == 0);
          for (size_t i = 0; i < out_offset; ++i) REQUIRE(out[i] == kCanary);
          for (size_t i = out_offset + ref.size(); i < out.size(); ++i) REQUIRE(out[i] == kCanary);

          // Unpack from an unaligned copy into an unaligned, guarded float buffer.
          std::vector<uint8_t> packed(out_offset + ref.size());
          std::copy(ref.begin(), ref.end(), packed.begin() + static_cast<std::ptrdiff_t>(out_offset));
          std::vector<float> y(in_offset + n + kGuard, 1234.5f);
          const auto u = quant::unpack_dequantize(packed.data() + out_offset, ref.size(), n, bits, b,
                                                  y.data() + in_offset, n);
          REQUIRE(u.ok());
          std::vector<float> expected(n);
          REQUIRE(quant::ref::unpack_dequantize(ref.data(), ref.size(), n, bits, b, expected.data(), n).ok());
          for (size_t i = 0; i < in_offset; ++i) REQUIRE(y[i] == 1234.5f);
          for (size_t i = 0; i < n; ++i) {
            REQUIRE(std::fabs(y[in_offset + i] - expected[i]) <= quant::test::dequant_tolerance(b));
          }
          for (size_t i = in_offset + n; i < y.size(); ++i) REQUIRE(y[i] == 1234.5f);
        }
      }
    }
  }
}

TEST_CASE("SIMD dequantization matches the reference within tolerance", "[quant][unpack]") {
  uint32_t seed = 77;
  for (unsigned bits : kAllBits) {
    for (const Bounds& b : quant::test::bounds_list()) {
      for (size_t n : quant::test::lengths()) {
        INFO("bits " << bits << ", n " << n << ", bounds [" << b.lo << ", " << b.hi << "]");
        // Random bytes, padding included: every code pattern must decode, and padding must be ignored.
        std::mt19937 rng(seed++);
        std::vector<uint8_t> packed(quant::packed_bytes(n, bits));
        for (uint8_t& v : packed) v = static_cast<uint8_t>(rng());
        // Exact-size output, so a sanitizer build sees any write past the n values.
        std::vector<float> simd(n), ref(n);
        const auto rs = quant::unpack_dequantize(packed.data(), packed.size(), n, bits, b, simd.data(), n);
        const auto rr = quant::ref::unpack_dequantize(packed.data(), packed.size(), n, bits, b, ref.data(), n);
        REQUIRE(rs.ok());
        REQUIRE(rr.ok());
        REQUIRE(*rs == n);
        const float tol = quant::test::dequant_tolerance(b);
        for (size_t i = 0; i < n; ++i) {
          INFO("i " << i);
          REQUIRE(std::fabs(simd[i] - ref[i]) <= tol);
        }
      }
    }
  }
}

TEST_CASE("round trip: error within half a step inside the bounds, clamped outside", "[quant][roundtrip]") {
  for (unsigned bits : kAllBits) {
    for (const Bounds& b : quant::test::bounds_list()) {
      INFO("bits " << bits << ", bounds [" << b.lo << ", " << b.hi << "]");
      constexpr size_t kN = 3 * 128 + 5;
      std::vector<float> x = quant::test::inside_values(kN, b, bits);
      x[0] = b.lo;
      x[1] = b.hi;
      const auto packed = pack_simd(x, bits, b);
      std::vector<float> y(kN);
      REQUIRE(quant::unpack_dequantize(packed.data(), packed.size(), kN, bits, b, y.data(), kN).ok());
      const float tol = quant::test::round_trip_tolerance(b, bits);
      for (size_t i = 0; i < kN; ++i) {
        INFO("x " << x[i] << " -> " << y[i]);
        REQUIRE(std::fabs(x[i] - y[i]) <= tol);
      }

      // Outside the range (and +-Inf) values come back as the nearer bound.
      const std::vector<float> outside = {b.lo - 1.f, b.hi + 1.f, -kInf, kInf, b.lo - 1e6f, b.hi + 1e6f};
      const auto packed_out = pack_simd(outside, bits, b);
      std::vector<float> z(outside.size());
      REQUIRE(quant::unpack_dequantize(packed_out.data(), packed_out.size(), z.size(), bits, b, z.data(),
                                       z.size())
                  .ok());
      const float tol_bound = quant::test::dequant_tolerance(b);
      CHECK(z[0] == b.lo);  // code 0 dequantizes to exactly lo
      CHECK(std::fabs(z[1] - b.hi) <= tol_bound);
      CHECK(z[2] == b.lo);
      CHECK(std::fabs(z[3] - b.hi) <= tol_bound);
      CHECK(z[4] == b.lo);
      CHECK(std::fabs(z[5] - b.hi) <= tol_bound);
    }
  }
}

TEST_CASE("special values and rounding give the defined codes", "[quant][codes]") {
  for (unsigned bits : kAllBits) {
    INFO("bits " << bits);
    const float levels = static_cast<float>((1u << bits) - 1u);
    const Bounds b = identity_bounds(bits);
    // NaN -> 0, +Inf -> L, -Inf -> 0, below -> 0, above -> L, -0 -> 0; then ties to even and near-ties.
    std::vector<float> x = {kNaN, -kNaN, kInf, -kInf, -1.f, levels + 1.f, -0.f, levels};
    std::vector<float> expected = {0.f, 0.f, levels, 0.f, 0.f, levels, 0.f, levels};
    for (float k = 0.f; k + 1.f <= levels; k += 1.f) {
      const float tie = k + 0.5f;
      const float even = std::fmod(k, 2.f) == 0.f ? k : k + 1.f;
      x.insert(x.end(), {tie, std::nextafter(tie, 0.f), std::nextafter(tie, 1e9f), k + 0.25f});
      expected.insert(expected.end(), {even, k, k + 1.f, k});
    }
    const auto simd = pack_simd(x, bits, b);
    CHECK(pack_ref(x, bits, b) == simd);
    const std::vector<float> codes = codes_of(simd, x.size(), bits);
    for (size_t i = 0; i < x.size(); ++i) {
      INFO("x " << x[i]);
      CHECK(codes[i] == expected[i]);
    }
  }
}

TEST_CASE("the paper's tensor: 6x96x96 at 4 bits is 432 groups, 27,648 bytes", "[quant][pack]") {
  constexpr size_t kN = 6 * 96 * 96;
  const Bounds b = quant::bounds_from_ensemble(1);
  const std::vector<float> x = quant::test::awkward_values(kN, b, 5);
  const auto simd = pack_simd(x, 4, b);
  CHECK(simd.size() == 27648);
  CHECK(pack_ref(x, 4, b) == simd);
}

// ------------------------------ errors

namespace {

using QuantizeFn = slimcodec::Result<size_t> (*)(const float*, size_t, unsigned, Bounds, uint8_t*, size_t);
using UnpackFn = slimcodec::Result<size_t> (*)(const uint8_t*, size_t, size_t, unsigned, Bounds, float*, size_t);

struct Impl {
  const char* name;
  QuantizeFn quantize;
  UnpackFn unpack;
};

const Impl kImpls[] = {{"simd", &quant::quantize_pack, &quant::unpack_dequantize},
                       {"ref", &quant::ref::quantize_pack, &quant::ref::unpack_dequantize}};

}  // namespace

TEST_CASE("every error code, and nothing written on error", "[quant][errors]") {
  constexpr size_t kN = 200;  // two groups
  const Bounds b{-1.f, 1.f};
  const std::vector<float> x(kN, 0.25f);
  for (const Impl& impl : kImpls) {
    INFO(impl.name);
    std::vector<uint8_t> out(quant::packed_bytes(kN, 8) + 8, 0xEE);
    std::vector<float> y(kN + 8, 7.f);
    const auto untouched = [&] {
      for (uint8_t v : out) REQUIRE(v == 0xEE);
      for (float v : y) REQUIRE(v == 7.f);
    };
    const size_t cap = out.size();
    const size_t bytes3 = quant::packed_bytes(kN, 3);

    // bits_out_of_range, checked first.
    for (unsigned bits : {0u, 9u, 16u, 32u, ~0u}) {
      CHECK(impl.quantize(x.data(), kN, bits, b, out.data(), cap).code() == Errc::bits_out_of_range);
      CHECK(impl.unpack(out.data(), bytes3, kN, bits, b, y.data(), kN).code() == Errc::bits_out_of_range);
      CHECK(impl.quantize(nullptr, 0, bits, b, nullptr, 0).code() == Errc::bits_out_of_range);
    }
    // bounds_invalid: equal, reversed, NaN, infinite.
    for (const Bounds& bad : {Bounds{1.f, 1.f}, Bounds{2.f, -2.f}, Bounds{kNaN, 1.f}, Bounds{0.f, kNaN},
                              Bounds{-kInf, 1.f}, Bounds{0.f, kInf}, Bounds{-kInf, kInf}}) {
      CHECK(impl.quantize(x.data(), kN, 3, bad, out.data(), cap).code() == Errc::bounds_invalid);
      CHECK(impl.unpack(out.data(), bytes3, kN, 3, bad, y.data(), kN).code() == Errc::bounds_invalid);
    }
    // invalid_argument: null pointers with n > 0, and n beyond any float array.
    CHECK(impl.quantize(nullptr, kN, 3, b, out.data(), cap).code() == Errc::invalid_argument);
    CHECK(impl.quantize(x.data(), kN, 3, b, nullptr, cap).code() == Errc::invalid_argument);
    CHECK(impl.unpack(nullptr, bytes3, kN, 3, b, y.data(), kN).code() == Errc::invalid_argument);
    CHECK(impl.unpack(out.data(), bytes3, kN, 3, b, nullptr, kN).code() == Errc::invalid_argument);
    CHECK(impl.quantize(x.data(), quant::kMaxValues + 1, 3, b, out.data(), cap).code() == Errc::invalid_argument);
    CHECK(impl.unpack(out.data(), bytes3, quant::kMaxValues + 1, 3, b, y.data(), kN).code() ==
          Errc::invalid_argument);
    // buffer_too_small: one byte / one value short.
    CHECK(impl.quantize(x.data(), kN, 3, b, out.data(), bytes3 - 1).code() == Errc::buffer_too_small);
    CHECK(impl.unpack(out.data(), bytes3, kN, 3, b, y.data(), kN - 1).code() == Errc::buffer_too_small);
    // length_mismatch: in_size must be exactly packed_bytes(n, bits).
    CHECK(impl.unpack(out.data(), bytes3 - 1, kN, 3, b, y.data(), kN).code() == Errc::length_mismatch);
    CHECK(impl.unpack(out.data(), bytes3 + 1, kN, 3, b, y.data(), kN).code() == Errc::length_mismatch);
    CHECK(impl.unpack(out.data(), quant::packed_bytes(kN, 4), kN, 3, b, y.data(), kN).code() ==
          Errc::length_mismatch);
    CHECK(impl.unpack(out.data(), 16, 0, 3, b, y.data(), kN).code() == Errc::length_mismatch);
    untouched();

    // n = 0 is valid with null pointers and writes nothing.
    const auto q0 = impl.quantize(nullptr, 0, 3, b, nullptr, 0);
    REQUIRE(q0.ok());
    CHECK(*q0 == 0);
    const auto u0 = impl.unpack(nullptr, 0, 0, 3, b, nullptr, 0);
    REQUIRE(u0.ok());
    CHECK(*u0 == 0);
    // Exact capacities succeed.
    CHECK(impl.quantize(x.data(), kN, 3, b, out.data(), bytes3).ok());
    CHECK(impl.unpack(out.data(), bytes3, kN, 3, b, y.data(), kN).ok());
  }
}
