// Shared helpers for the quant/ tests: input generators with awkward values, tolerances, and the list of
// lengths and bounds every implementation is checked on.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <slimcodec/quant/layout.hpp>
#include <slimcodec/quant/params.hpp>

namespace slimcodec::quant::test {

// Empty, single, around one row (16) and one group (128), several groups plus a tail, odd sizes, and the
// paper's 6x96x96 tensor.
inline const std::vector<size_t>& lengths() {
  static const std::vector<size_t> kLengths = {0,   1,   2,   7,   15,  16,  17,  31,  33,   100,
                                               127, 128, 129, 255, 256, 257, 389, 1000, 4099, 6 * 96 * 96};
  return kLengths;
}

inline const std::vector<Bounds>& bounds_list() {
  // The last two are valid but ill-conditioned: a width of 255 x 2^-126 (step 2^-126 at b = 8, so x - lo is
  // subnormal) and one above 2^126 (inv subnormal at b = 1, 2). Flush-to-zero SIMD must still match the reference.
  static const std::vector<Bounds> kBounds = {{-3.f, 3.f},         {-0.5f, 2.25f},         {10.f, 12.5f},
                                              {-1e-3f, 1e-3f},     {-100 * FLT_MIN, 155 * FLT_MIN},
                                              {-1e38f, 1e38f}};
  return kBounds;
}

// Values spread over and beyond [lo, hi], with every special case mixed in: NaN, +-Inf, +-0, denormals,
// huge magnitudes, the bounds themselves and their neighbours.
inline std::vector<float> awkward_values(size_t n, Bounds b, uint32_t seed) {
  std::mt19937 rng(seed);
  const float width = b.hi - b.lo;
  std::uniform_real_distribution<float> spread(b.lo - 0.25f * width, b.hi + 0.25f * width);
  std::uniform_int_distribution<int> pick(0, 31);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            0.f,
                            -0.f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::max(),
                            b.lo,
                            b.hi,
                            std::nextafter(b.lo, -1e30f),
                            std::nextafter(b.hi, 1e30f)};
  constexpr int kSpecials = static_cast<int>(sizeof(specials) / sizeof(specials[0]));
  std::vector<float> x(n);
  for (float& v : x) {
    const int k = pick(rng);
    v = k < kSpecials ? specials[k] : spread(rng);
  }
  return x;
}

// Values strictly inside [lo, hi].
inline std::vector<float> inside_values(size_t n, Bounds b, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> inside(b.lo, b.hi);
  std::vector<float> x(n);
  for (float& v : x) v = inside(rng);
  return x;
}

inline float ulp(float v) {
  v = std::fabs(v);
  return std::nextafter(v, std::numeric_limits<float>::infinity()) - v;
}

// SIMD dequantization may use an FMA where the reference rounds twice: allow 1e-6 of the range plus two ulps
// of the largest bound (the latter matters only for ranges far from zero).
inline float dequant_tolerance(Bounds b) {
  return 1e-6f * (b.hi - b.lo) + 2.f * ulp(std::fmax(std::fabs(b.lo), std::fabs(b.hi)));
}

// Quantization error bound for x inside [lo, hi]: half a step, plus float rounding of t and of x'.
inline float round_trip_tolerance(Bounds b, unsigned bits) {
  const float step = (b.hi - b.lo) / static_cast<float>((1u << bits) - 1u);
  return 0.5f * step + 1e-5f * (b.hi - b.lo) + 2.f * ulp(std::fmax(std::fabs(b.lo), std::fabs(b.hi)));
}

}  // namespace slimcodec::quant::test
