// Float values of a loaded tensor whatever its floating-point dtype: F32 as is, F16 and BF16 widened exactly
// (fixtures and reference maps are stored in half precision to keep them small).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "slimcodec/common/result.hpp"
#include "slimcodec/weights/safetensors.hpp"

namespace slimcodec::weights {

// IEEE binary16 -> binary32, exact for every input (subnormals, infinities, NaN).
inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) return (sign ? -1.f : 1.f) * std::ldexp(float(mant), -24);
  const uint32_t bits = exp == 31 ? sign | 0x7f800000u | (mant << 13) : sign | ((exp + 112u) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Writes t's numel() values to out[0..capacity). Errors: buffer_too_small, tensor_dtype_mismatch (not F32/F16/BF16).
inline Result<size_t> to_float(const TensorView& t, float* out, size_t capacity) {
  const size_t n = t.numel();
  if (capacity < n) return Error{Errc::buffer_too_small, "to_float: the output holds fewer values than the tensor"};
  const auto* p = static_cast<const uint8_t*>(t.data);
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, p, n * 4);
      return n;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(uint16_t(p[2 * i] | (p[2 * i + 1] << 8)));
      return n;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = uint32_t(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
        std::memcpy(out + i, &bits, 4);
      }
      return n;
    default:
      return Error{Errc::tensor_dtype_mismatch, "to_float: tensor is not F32, F16 or BF16"};
  }
}

}  // namespace slimcodec::weights
