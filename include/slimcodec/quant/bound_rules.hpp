// Rules that choose quantizer bounds: measured (mean +- k*std of the tensor) or derived from the ensemble size
// alone, which needs no statistics pass because member outputs are instance-normalized.
#pragma once

#include <cmath>
#include <cstddef>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/params.hpp"

namespace slimcodec::quant {

// Smallest half-width bounds_from_sigma returns, relative to max(1, |mean|). 2^-20 is several float ulps
// at the mean, so lo < hi survives rounding to float even for constant input.
constexpr double kMinRelativeHalfWidth = 1.0 / (1 << 20);

// [mean - k*std, mean + k*std] over the finite values of x (population std, accumulated in double).
// Constant or empty input (no finite values: mean 0) gets the minimum half-width instead of an error.
// Bounds are clamped to +-2^125, so hi - lo <= 2^126: the step stays finite and inv = L / (hi - lo) stays a
// normal float (flush-to-zero SIMD such as ARMv7 NEON would otherwise disagree with the scalar path).
// Errors: invalid_argument if x is null with n > 0 or k is not finite and positive.
inline Result<Bounds> bounds_from_sigma(const float* x, size_t n, float k) {
  if (n > 0 && x == nullptr) return {Errc::invalid_argument, "null pointer with n > 0"};
  if (!(k > 0.f && std::isfinite(k))) return {Errc::invalid_argument, "k must be finite and positive"};
  double sum = 0.0;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) {
      sum += x[i];
      ++count;
    }
  }
  const double mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
  // Second pass around the mean: no cancellation, unlike E[x^2] - mean^2.
  double squares = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) {
      const double d = x[i] - mean;
      squares += d * d;
    }
  }
  const double sigma = count > 0 ? std::sqrt(squares / static_cast<double>(count)) : 0.0;
  const double min_half = kMinRelativeHalfWidth * std::fmax(1.0, std::fabs(mean));
  const double half = std::fmax(static_cast<double>(k) * sigma, min_half);
  constexpr double kLimit = 0x1p125;
  const auto to_float = [](double v) { return static_cast<float>(std::fmin(std::fmax(v, -kLimit), kLimit)); };
  return make_bounds(to_float(mean - half), to_float(mean + half));
}

// The slimmable ensemble's member weights, w[m] = 2^-m (exact in float for m < 127): layers::Ensemble sums its
// members with them, and bounds_from_ensemble derives the sum's spread from them.
constexpr double ensemble_member_weight(unsigned m) noexcept {
  double w = 1.0;
  for (unsigned i = 0; i < m; ++i) w *= 0.5;
  return w;
}

// Bound rule for a slimmable ensemble: the output is sum_{m<s} w[m] * member_m with w[m] = 2^-m and each
// member instance-normalized to std member_sigma, so (treating members as uncorrelated) its std is
// member_sigma * sqrt(sum_{m<s} 4^-m) and the bounds are +-k times that.
struct EnsembleBoundRule {
  float k = 3.f;
  float member_sigma = 1.f;
};

// [-B, B] with B = k * member_sigma * sqrt(sum_{m<s} w[m]^2). s = 0 is treated as s = 1. The result is valid
// (see bounds_valid) iff k * member_sigma is finite and positive; quantize_pack rejects it otherwise.
inline Bounds bounds_from_ensemble(unsigned s, const EnsembleBoundRule& rule = {}) {
  // Terms beyond m = 40 are below double precision next to the first (4^-40 < 2^-53).
  const unsigned members = s == 0 ? 1u : (s > 40u ? 40u : s);
  double sum_w2 = 0.0;
  for (unsigned m = 0; m < members; ++m) sum_w2 += ensemble_member_weight(m) * ensemble_member_weight(m);
  const auto b = static_cast<float>(static_cast<double>(rule.k) * rule.member_sigma * std::sqrt(sum_w2));
  return Bounds{-b, b};
}

}  // namespace slimcodec::quant
