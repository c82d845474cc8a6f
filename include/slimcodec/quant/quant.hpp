// Public quant/ API: quantize + bit-pack and unpack + dequantize, statically dispatched to the Highway target
// the compiler flags select (header-only). For run-time dispatch, re-include pack-inl.h via foreach_target.h.
// Every translation unit of a program must then use the same target flags (usual for static dispatch).
#pragma once

#include <cstddef>
#include <cstdint>

#include "slimcodec/quant/hwy_targets.hpp"  // before Highway: AVX3_DL fix
#include <hwy/highway.h>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/bound_rules.hpp"
#include "slimcodec/quant/layout.hpp"
#include "slimcodec/quant/pack-inl.h"
#include "slimcodec/quant/params.hpp"
#include "slimcodec/quant/ref.hpp"

namespace slimcodec::quant {

// Quantizes x[0..n) with `bits` bits (1..8) over bounds b and packs the codes into out; returns the bytes
// written, packed_bytes(n, bits). Errors: bits_out_of_range, bounds_invalid, invalid_argument (null pointer
// with n > 0), buffer_too_small (out_capacity < packed_bytes). Reads only x[0..n), writes only those bytes.
inline Result<size_t> quantize_pack(const float* x, size_t n, unsigned bits, Bounds b, uint8_t* out,
                                    size_t out_capacity) {
  return HWY_NAMESPACE::quantize_pack(x, n, bits, b, out, out_capacity);
}

// Unpacks n codes from in[0..in_size) and writes lo + q * step to out[0..n); returns n. Errors as above,
// plus length_mismatch (in_size != packed_bytes(n, bits)) and buffer_too_small (out_capacity < n values).
// Padding codes of the last group are ignored.
inline Result<size_t> unpack_dequantize(const uint8_t* in, size_t in_size, size_t n, unsigned bits, Bounds b,
                                        float* out, size_t out_capacity) {
  return HWY_NAMESPACE::unpack_dequantize(in, in_size, n, bits, b, out, out_capacity);
}

// The two halves of quantize_pack, for a caller that needs the codes themselves (codec 1 entropy-codes them, and
// packs the same codes when that is not smaller). quantize_codes writes codes[0..n), one per byte, each the code
// quantize_pack would pack (ref::quantize_value); returns n. Errors as quantize_pack, with buffer_too_small for
// capacity < n.
inline Result<size_t> quantize_codes(const float* x, size_t n, unsigned bits, Bounds b, uint8_t* codes,
                                     size_t capacity) {
  return HWY_NAMESPACE::quantize_codes(x, n, bits, b, codes, capacity);
}

// Packs n codes, each below 2^bits, into the layout quantize_pack writes; returns packed_bytes(n, bits). Errors:
// bits_out_of_range, invalid_argument (null pointer with n > 0), buffer_too_small.
inline Result<size_t> pack_codes(const uint8_t* codes, size_t n, unsigned bits, uint8_t* out, size_t out_capacity) {
  return HWY_NAMESPACE::pack_codes(codes, n, bits, out, out_capacity);
}

}  // namespace slimcodec::quant
