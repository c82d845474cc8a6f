// Argument checks shared by the SIMD entry points and the scalar reference, so both report the same error
// for the same call. Order: bits, bounds, n, null pointers, sizes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/layout.hpp"
#include "slimcodec/quant/params.hpp"

namespace slimcodec::quant {

// On success holds packed_bytes(n, bits).
inline Result<size_t> check_quantize_pack(const float* x, size_t n, unsigned bits, Bounds b, const uint8_t* out,
                                          size_t out_capacity) {
  if (!bits_valid(bits)) return Errc::bits_out_of_range;
  if (!bounds_valid(b)) return Errc::bounds_invalid;
  if (n > kMaxValues) return {Errc::invalid_argument, "n above the largest float array"};
  if (n > 0 && (x == nullptr || out == nullptr)) return {Errc::invalid_argument, "null pointer with n > 0"};
  const size_t bytes = packed_bytes(n, bits);
  if (out_capacity < bytes) return Errc::buffer_too_small;
  return bytes;
}

// On success holds n.
inline Result<size_t> check_unpack_dequantize(const uint8_t* in, size_t in_size, size_t n, unsigned bits,
                                              Bounds b, const float* out, size_t out_capacity) {
  if (!bits_valid(bits)) return Errc::bits_out_of_range;
  if (!bounds_valid(b)) return Errc::bounds_invalid;
  if (n > kMaxValues) return {Errc::invalid_argument, "n above the largest float array"};
  if (n > 0 && (in == nullptr || out == nullptr)) return {Errc::invalid_argument, "null pointer with n > 0"};
  if (in_size != packed_bytes(n, bits)) return Errc::length_mismatch;
  if (out_capacity < n) return Errc::buffer_too_small;
  return n;
}

// On success holds n.
inline Result<size_t> check_quantize_codes(const float* x, size_t n, unsigned bits, Bounds b, const uint8_t* codes,
                                           size_t capacity) {
  if (!bits_valid(bits)) return Errc::bits_out_of_range;
  if (!bounds_valid(b)) return Errc::bounds_invalid;
  if (n > kMaxValues) return {Errc::invalid_argument, "n above the largest float array"};
  if (n > 0 && (x == nullptr || codes == nullptr)) return {Errc::invalid_argument, "null pointer with n > 0"};
  if (capacity < n) return Errc::buffer_too_small;
  return n;
}

// On success holds packed_bytes(n, bits).
inline Result<size_t> check_pack_codes(const uint8_t* codes, size_t n, unsigned bits, const uint8_t* out,
                                       size_t out_capacity) {
  if (!bits_valid(bits)) return Errc::bits_out_of_range;
  if (n > kMaxValues) return {Errc::invalid_argument, "n above the largest float array"};
  if (n > 0 && (codes == nullptr || out == nullptr)) return {Errc::invalid_argument, "null pointer with n > 0"};
  const size_t bytes = packed_bytes(n, bits);
  if (out_capacity < bytes) return Errc::buffer_too_small;
  return bytes;
}

}  // namespace slimcodec::quant
