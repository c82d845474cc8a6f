// Scalar reference for quant/: one value and one bit at a time, written to mirror the format definition.
// It is the oracle the SIMD path is tested against, and usable anywhere without Highway.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/checks.hpp"
#include "slimcodec/quant/layout.hpp"
#include "slimcodec/quant/params.hpp"

namespace slimcodec::quant::ref {

// t = (x - lo) * inv; NaN -> 0; clamp to [0, L]; round half to even.
inline uint32_t quantize_value(float x, const QuantParams& p) {
  float t = (x - p.lo) * p.inv;
  if (std::isnan(t)) t = 0.f;
  t = t < 0.f ? 0.f : (t > p.levels ? p.levels : t);
  const float whole = std::floor(t);
  const float frac = t - whole;  // exact (Sterbenz): whole is 0 or within a factor 2 of t
  auto q = static_cast<uint32_t>(whole);
  if (frac > 0.5f || (frac == 0.5f && (q & 1u) != 0)) ++q;
  return q;
}

inline float dequantize_value(uint32_t q, const QuantParams& p) { return p.lo + static_cast<float>(q) * p.step; }

// Bit t of code q[16*j + l] is bit j*b + t of the little-endian word W_l, whose byte k is out[16*k + l].
inline Result<size_t> quantize_pack(const float* x, size_t n, unsigned bits, Bounds b, uint8_t* out,
                                    size_t out_capacity) {
  const Result<size_t> bytes = check_quantize_pack(x, n, bits, b, out, out_capacity);
  if (!bytes) return bytes;
  if (*bytes == 0) return bytes;
  std::memset(out, 0, *bytes);  // padding codes are zero
  const QuantParams p = make_params(bits, b);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t q = quantize_value(x[i], p);
    uint8_t* group = out + (i / kGroupValues) * group_bytes(bits);
    const size_t row = (i % kGroupValues) / kGroupLanes;
    const size_t lane = i % kGroupLanes;
    for (unsigned t = 0; t < bits; ++t) {
      const size_t bit = row * bits + t;
      group[kGroupLanes * (bit / 8) + lane] |= static_cast<uint8_t>(((q >> t) & 1u) << (bit % 8));
    }
  }
  return bytes;
}

inline Result<size_t> unpack_dequantize(const uint8_t* in, size_t in_size, size_t n, unsigned bits, Bounds b,
                                        float* out, size_t out_capacity) {
  const Result<size_t> count = check_unpack_dequantize(in, in_size, n, bits, b, out, out_capacity);
  if (!count) return count;
  const QuantParams p = make_params(bits, b);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* group = in + (i / kGroupValues) * group_bytes(bits);
    const size_t row = (i % kGroupValues) / kGroupLanes;
    const size_t lane = i % kGroupLanes;
    uint32_t q = 0;
    for (unsigned t = 0; t < bits; ++t) {
      const size_t bit = row * bits + t;
      q |= static_cast<uint32_t>((group[kGroupLanes * (bit / 8) + lane] >> (bit % 8)) & 1u) << t;
    }
    out[i] = dequantize_value(q, p);
  }
  return count;
}

}  // namespace slimcodec::quant::ref
