// Safetensors element types: names as they appear in the header and their sizes in bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace slimcodec::weights {

enum class DType : uint8_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};

// Every dtype of the safetensors specification; anything else in a header is format_invalid.
inline constexpr DTypeInfo kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},   {DType::I8, "I8", 1},     {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2}, {DType::U16, "U16", 2}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4}, {DType::U32, "U32", 4}, {DType::F32, "F32", 4},
    {DType::I64, "I64", 8},   {DType::U64, "U64", 8}, {DType::F64, "F64", 8},
};

constexpr size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t) return d.size;
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t) return d.name;
  return "?";
}

// Returns false for names outside the specification.
constexpr bool dtype_from_name(std::string_view name, DType* out) {
  for (const auto& d : kDTypes)
    if (d.name == name) {
      *out = d.dtype;
      return true;
    }
  return false;
}

static_assert(dtype_size(DType::F32) == 4 && dtype_name(DType::BF16) == "BF16");

}  // namespace slimcodec::weights
