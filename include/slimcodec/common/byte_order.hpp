// Little-endian loads and stores for the wire format, independent of the host's byte order and alignment.
// Shifts rather than memcpy-and-swap: compilers turn these into single moves on little-endian hosts.
#pragma once

#include <cstdint>
#include <cstring>

namespace slimcodec {

constexpr uint16_t load_le16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

constexpr uint32_t load_le32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

constexpr uint64_t load_le64(const uint8_t* p) noexcept {
  return uint64_t{load_le32(p)} | (uint64_t{load_le32(p + 4)} << 32);
}

constexpr void store_le16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

constexpr void store_le32(uint8_t* p, uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

constexpr void store_le64(uint8_t* p, uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// binary32 <-> its bit pattern; memcpy is the defined way to reinterpret (no union punning).
inline float float_from_bits(uint32_t bits) noexcept {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint32_t bits_from_float(float f) noexcept {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

}  // namespace slimcodec
