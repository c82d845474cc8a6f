// Scalar reference of the raw bit-pack codec and the quantizer, written from docs/wire-format.md.
// Test and fuzz code only: the library's packer lives in quant/ and wire/ headers never depend on it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <slimcodec/wire/frame.hpp>

namespace slimcodec::wire::ref {

// Codes q[0, n) (each < 2^bits) -> raw_bitpack_size(n, bits) bytes at out; the last group is zero-padded.
inline void pack_codes(const uint8_t* q, size_t n, unsigned bits, uint8_t* out) {
  const size_t groups = (n + kGroupValues - 1) / kGroupValues;
  for (size_t g = 0; g < groups; ++g) {
    for (size_t lane = 0; lane < kGroupLanes; ++lane) {
      uint64_t word = 0;  // 8 codes of `bits` bits: at most 64 bits
      for (size_t j = 0; j < 8; ++j) {
        const size_t i = g * kGroupValues + kGroupLanes * j + lane;
        if (i < n) word |= uint64_t{q[i]} << (j * bits);
      }
      for (size_t k = 0; k < bits; ++k) out[g * kGroupLanes * bits + kGroupLanes * k + lane] = uint8_t(word >> (8 * k));
    }
  }
}

// Inverse of pack_codes for the first n codes.
inline void unpack_codes(const uint8_t* in, size_t n, unsigned bits, uint8_t* q) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  for (size_t i = 0; i < n; ++i) {
    const size_t g = i / kGroupValues, j = (i % kGroupValues) / kGroupLanes, lane = i % kGroupLanes;
    uint64_t word = 0;
    for (size_t k = 0; k < bits; ++k) word |= uint64_t{in[g * kGroupLanes * bits + kGroupLanes * k + lane]} << (8 * k);
    q[i] = uint8_t((word >> (j * bits)) & mask);
  }
}

// q = round_half_even(clamp((x - lo) * inv, 0, L)), NaN -> 0 (quant/ semantics).
inline uint8_t quantize_one(float x, unsigned bits, float lo, float hi) {
  const float levels = float((1u << bits) - 1);
  const float inv = levels / (hi - lo);
  float t = (x - lo) * inv;
  if (!(t > 0.0f)) return 0;  // also NaN
  if (t > levels) t = levels;
  return uint8_t(std::nearbyint(t));
}

// x' = lo + q * step, step = (hi - lo) / L, in binary32.
inline float dequantize_one(unsigned q, unsigned bits, float lo, float hi) {
  const float step = (hi - lo) / float((1u << bits) - 1);
  return lo + float(q) * step;
}

}  // namespace slimcodec::wire::ref
