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

}  // namespace slimcodec::quant
