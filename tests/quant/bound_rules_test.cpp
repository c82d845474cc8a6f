// Tests of quant/ bounds: make_bounds validity, packed_bytes, bounds_from_sigma and bounds_from_ensemble.
#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

#include <slimcodec/quant/quant.hpp>

namespace quant = slimcodec::quant;
using slimcodec::Errc;

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
}  // namespace

TEST_CASE("make_bounds accepts finite increasing pairs only", "[quant][bounds]") {
  const auto ok = quant::make_bounds(-2.f, 5.f);
  REQUIRE(ok.ok());
  CHECK(ok->lo == -2.f);
  CHECK(ok->hi == 5.f);
  CHECK(quant::make_bounds(-FLT_MAX, FLT_MAX).ok());
  CHECK(quant::make_bounds(1.f, std::nextafter(1.f, 2.f)).ok());
  CHECK(quant::make_bounds(1.f, 1.f).code() == Errc::bounds_invalid);
  CHECK(quant::make_bounds(1.f, 0.f).code() == Errc::bounds_invalid);
  CHECK(quant::make_bounds(kNaN, 1.f).code() == Errc::bounds_invalid);
  CHECK(quant::make_bounds(0.f, kNaN).code() == Errc::bounds_invalid);
  CHECK(quant::make_bounds(-kInf, 0.f).code() == Errc::bounds_invalid);
  CHECK(quant::make_bounds(0.f, kInf).code() == Errc::bounds_invalid);
}

TEST_CASE("packed_bytes is ceil(n / 128) * 16 * bits", "[quant][layout]") {
  CHECK(quant::packed_bytes(0, 4) == 0);
  CHECK(quant::packed_bytes(1, 1) == 16);
  CHECK(quant::packed_bytes(128, 1) == 16);
  CHECK(quant::packed_bytes(129, 1) == 32);
  CHECK(quant::packed_bytes(3 * 128 + 5, 5) == 4 * 80);
  CHECK(quant::packed_bytes(6 * 96 * 96, 4) == 27648);
  CHECK(quant::packed_bytes(6 * 96 * 96, 8) == 55296);
  CHECK(quant::packed_bytes(100, 0) == 0);
  CHECK(quant::packed_bytes(100, 9) == 0);
  CHECK(quant::packed_bytes(quant::kMaxValues, 8) == (quant::kMaxValues / 128 + 1) * 128);
}

TEST_CASE("bounds_from_sigma: mean +- k * population std over finite values", "[quant][bounds]") {
  // mean 3, population variance 2.
  const std::vector<float> x = {1.f, 2.f, 3.f, 4.f, 5.f};
  const auto b = quant::bounds_from_sigma(x.data(), x.size(), 2.f);
  REQUIRE(b.ok());
  CHECK(b->lo == Approx(3.0 - 2.0 * std::sqrt(2.0)).epsilon(1e-6));
  CHECK(b->hi == Approx(3.0 + 2.0 * std::sqrt(2.0)).epsilon(1e-6));

  // NaN and +-Inf are ignored.
  const std::vector<float> with_specials = {kNaN, 1.f, 2.f, kInf, 3.f, 4.f, -kInf, 5.f};
  const auto c = quant::bounds_from_sigma(with_specials.data(), with_specials.size(), 2.f);
  REQUIRE(c.ok());
  CHECK(c->lo == b->lo);
  CHECK(c->hi == b->hi);

  // Large-mean data: the two-pass variance has no cancellation (E[x^2] - mean^2 in float would).
  std::vector<float> shifted;
  for (int i = 0; i < 1000; ++i) shifted.push_back(1e4f + ((i % 2) != 0 ? 0.5f : -0.5f));
  const auto d = quant::bounds_from_sigma(shifted.data(), shifted.size(), 3.f);
  REQUIRE(d.ok());
  CHECK(d->lo == Approx(1e4 - 1.5).epsilon(1e-7));
  CHECK(d->hi == Approx(1e4 + 1.5).epsilon(1e-7));
}

TEST_CASE("bounds_from_sigma: constant or empty input gets a small positive width", "[quant][bounds]") {
  const std::vector<float> constant(100, 5.f);
  const auto b = quant::bounds_from_sigma(constant.data(), constant.size(), 3.f);
  REQUIRE(b.ok());
  CHECK(b->lo < 5.f);
  CHECK(b->hi > 5.f);
  CHECK(b->hi - b->lo <= 5.f * 4e-6f);  // 2 * 5 * 2^-20, rounded to float

  const std::vector<float> zeros(10, 0.f);
  const auto z = quant::bounds_from_sigma(zeros.data(), zeros.size(), 3.f);
  REQUIRE(z.ok());
  CHECK(z->lo < 0.f);
  CHECK(z->hi > 0.f);
  CHECK(z->hi - z->lo <= 4e-6f);

  for (const auto& e : {quant::bounds_from_sigma(nullptr, 0, 3.f),
                        quant::bounds_from_sigma(std::vector<float>{kNaN, kInf}.data(), 2, 3.f)}) {
    REQUIRE(e.ok());
    CHECK(e->lo == -e->hi);
    CHECK(e->hi > 0.f);
    CHECK(e->hi <= 1e-6f);
  }

  // The constant tensor survives a round trip through those bounds at any width.
  std::vector<uint8_t> packed(quant::packed_bytes(constant.size(), 2));
  REQUIRE(quant::quantize_pack(constant.data(), constant.size(), 2, *b, packed.data(), packed.size()).ok());
  std::vector<float> y(constant.size());
  REQUIRE(quant::unpack_dequantize(packed.data(), packed.size(), y.size(), 2, *b, y.data(), y.size()).ok());
  for (float v : y) CHECK(std::fabs(v - 5.f) <= (b->hi - b->lo) / 3.f);
}

TEST_CASE("bounds_from_sigma: extreme values are clamped so the width stays finite", "[quant][bounds]") {
  const std::vector<float> x = {-FLT_MAX, FLT_MAX, -FLT_MAX, FLT_MAX};
  const auto b = quant::bounds_from_sigma(x.data(), x.size(), 3.f);
  REQUIRE(b.ok());
  CHECK(b->lo == -0x1p125f);
  CHECK(b->hi == 0x1p125f);
  // The width stays finite and inv = L / width a normal float at every b, even b = 1.
  CHECK(std::isnormal(1.f / (b->hi - b->lo)));
  // So every code dequantizes to a finite value, code 0 to lo, and flush-to-zero targets agree.
  std::vector<uint8_t> packed(quant::packed_bytes(x.size(), 2));
  REQUIRE(quant::quantize_pack(x.data(), x.size(), 2, *b, packed.data(), packed.size()).ok());
  std::vector<float> y(x.size());
  REQUIRE(quant::unpack_dequantize(packed.data(), packed.size(), y.size(), 2, *b, y.data(), y.size()).ok());
  CHECK(y[0] == b->lo);
  CHECK(y[1] == Approx(b->hi).epsilon(1e-6));
}

TEST_CASE("bounds_from_sigma: argument errors", "[quant][bounds][errors]") {
  const std::vector<float> x = {1.f, 2.f};
  CHECK(quant::bounds_from_sigma(nullptr, 2, 3.f).code() == Errc::invalid_argument);
  for (float k : {0.f, -1.f, kNaN, kInf}) {
    CHECK(quant::bounds_from_sigma(x.data(), x.size(), k).code() == Errc::invalid_argument);
  }
}

TEST_CASE("ensemble member weights are 2^-m", "[quant][bounds]") {
  static_assert(quant::ensemble_member_weight(0) == 1.0 && quant::ensemble_member_weight(3) == 0.125);
  for (unsigned m = 0; m < 60; ++m) CHECK(quant::ensemble_member_weight(m) == std::ldexp(1.0, -int(m)));
}

TEST_CASE("bounds_from_ensemble: B = k * sigma * sqrt(sum_{m<s} 4^-m)", "[quant][bounds]") {
  struct Case {
    unsigned s;
    double b;
  };
  // 3 * sqrt(1), 3 * sqrt(1.25), 3 * sqrt(1.3125), 3 * sqrt(1.328125); the limit is 3 * sqrt(4/3).
  for (const Case& c : {Case{1, 3.0}, Case{2, 3.3541019662}, Case{3, 3.4369317712}, Case{4, 3.4573291715},
                        Case{100, 3.4641016151}, Case{0, 3.0}}) {
    INFO("s " << c.s);
    const quant::Bounds b = quant::bounds_from_ensemble(c.s);
    CHECK(b.hi == Approx(c.b).epsilon(1e-7));
    CHECK(b.lo == -b.hi);
    CHECK(quant::bounds_valid(b));
  }
  const quant::Bounds custom = quant::bounds_from_ensemble(2, {2.f, 0.5f});
  CHECK(custom.hi == Approx(std::sqrt(1.25)).epsilon(1e-7));
  CHECK(!quant::bounds_valid(quant::bounds_from_ensemble(2, {0.f, 1.f})));
  CHECK(!quant::bounds_valid(quant::bounds_from_ensemble(2, {3.f, kNaN})));
}
