// Quantizer bounds and the per-call constants (levels, step, inverse step) derived from them.
// Both the SIMD path and the scalar reference take their constants from make_params, so they agree bit for bit.
#pragma once

#include <cfloat>
#include <cmath>
#include <limits>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/layout.hpp"

namespace slimcodec::quant {

// Closed range [lo, hi] mapped onto codes 0 .. 2^b - 1. Valid iff both are finite and lo < hi.
struct Bounds {
  float lo;
  float hi;
};

constexpr bool bounds_valid(Bounds b) {
  // Written without std::isfinite so it stays constexpr; NaN fails every comparison.
  constexpr float kMax = std::numeric_limits<float>::max();
  return b.lo >= -kMax && b.lo <= kMax && b.hi >= -kMax && b.hi <= kMax && b.lo < b.hi;
}

inline Result<Bounds> make_bounds(float lo, float hi) {
  const Bounds b{lo, hi};
  if (!bounds_valid(b)) return Errc::bounds_invalid;
  return b;
}

// Constants of one (bits, bounds) pair, computed in float exactly as the format defines them.
struct QuantParams {
  float lo;
  float levels;  // L = 2^b - 1
  float inv;     // L / (hi - lo): multiplies (x - lo) when quantizing
  float step;    // (hi - lo) / L: multiplies the code when dequantizing
};

// Requires bits_valid(bits) and bounds_valid(b). Valid but extreme bounds are ill-conditioned: a width above
// 2^126 can make inv subnormal (b = 1, 2) or overflow hi - lo, a width below about L * 2^-126 makes step
// subnormal. bounds_from_sigma stays clear of both; quantize_pack keeps such bounds off flush-to-zero SIMD
// (ARMv7 NEON) with needs_subnormals.
inline QuantParams make_params(unsigned bits, Bounds b) {
  const float levels = static_cast<float>((1u << bits) - 1u);
  const float width = b.hi - b.lo;
  return QuantParams{b.lo, levels, levels / width, width / levels};
}

// True when flush-to-zero arithmetic can change a code or a value. Codes: x - lo is affected by flushing only
// where x and lo are both below about 2^-100, and then t = (x - lo) * inv reaches a nonzero code only if inv
// is near 2^98 or more; a subnormal inv (width above L * 2^126) turns every t into 0. Values: lo + q * step can be
// subnormal only for such an inv or a subnormal lo. False for every bounds_from_sigma result.
inline bool needs_subnormals(const QuantParams& p) {
  return !(p.inv < 0x1p98f) || p.inv < FLT_MIN || (p.lo != 0.f && std::fabs(p.lo) < FLT_MIN);
}

}  // namespace slimcodec::quant
