// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF), as the frame format uses it.
// crc32c_sw is the portable slicing-by-8 reference; crc32c uses SSE4.2 or ARMv8 CRC instructions when the
// compile flags enable them (static dispatch) and is otherwise the reference itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "slimcodec/common/byte_order.hpp"

// The forced-scalar build (SLIMCODEC_FORCE_SCALAR defines HWY_COMPILE_ONLY_SCALAR) keeps the reference path too.
#if !defined(SLIMCODEC_NO_HW_CRC) && !defined(HWY_COMPILE_ONLY_SCALAR)
#if defined(__SSE4_2__)
#include <nmmintrin.h>
#define SLIMCODEC_CRC32C_SSE42 1
#elif defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define SLIMCODEC_CRC32C_ARMV8 1
#endif
#endif

namespace slimcodec {

inline constexpr uint32_t kCrc32cPolynomial = 0x82F63B78u;  // 0x1EDC6F41 bit-reversed
inline constexpr uint32_t kCrc32cCheck = 0xE3069283u;       // crc32c("123456789")

namespace crc32c_detail {  // not `detail`: users of both slimcodec and slimcodec::entropy would see two

using Crc32cTables = std::array<std::array<uint32_t, 256>, 8>;

// tables[0] is the classic byte table; tables[k][i] is the CRC of byte i followed by k zero bytes.
constexpr Crc32cTables make_crc32c_tables() {
  Crc32cTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ kCrc32cPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  }
  return t;
}

inline constexpr Crc32cTables kCrc32cTables = make_crc32c_tables();

}  // namespace crc32c_detail

// Portable reference. `crc` is a previous result, so crc32c_sw(b, nb, crc32c_sw(a, na)) == crc32c_sw(a||b).
inline uint32_t crc32c_sw(const uint8_t* data, size_t n, uint32_t crc = 0) noexcept {
  const auto& t = crc32c_detail::kCrc32cTables;
  uint32_t c = ~crc;
  for (; n >= 8; n -= 8, data += 8) {
    const uint32_t lo = c ^ load_le32(data);
    const uint32_t hi = load_le32(data + 4);
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
  }
  for (; n > 0; --n, ++data) c = (c >> 8) ^ t[0][(c ^ *data) & 0xFFu];
  return ~c;
}

#if defined(SLIMCODEC_CRC32C_SSE42) || defined(SLIMCODEC_CRC32C_ARMV8)
inline constexpr bool kCrc32cHardware = true;

// Same contract as crc32c_sw, using the CPU's CRC-32C instructions (8 bytes per step, bytes for the tail).
inline uint32_t crc32c_hw(const uint8_t* data, size_t n, uint32_t crc = 0) noexcept {
  uint32_t c = ~crc;
#if defined(SLIMCODEC_CRC32C_SSE42)
  for (; n >= 8; n -= 8, data += 8) {
#if defined(__x86_64__) || defined(_M_X64)
    c = static_cast<uint32_t>(_mm_crc32_u64(c, load_le64(data)));
#else
    c = _mm_crc32_u32(_mm_crc32_u32(c, load_le32(data)), load_le32(data + 4));
#endif
  }
  for (; n > 0; --n, ++data) c = _mm_crc32_u8(c, *data);
#else
  for (; n >= 8; n -= 8, data += 8) c = __crc32cd(c, load_le64(data));
  for (; n > 0; --n, ++data) c = __crc32cb(c, *data);
#endif
  return ~c;
}

inline uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0) noexcept {
  return crc32c_hw(data, n, crc);
}
#else
inline constexpr bool kCrc32cHardware = false;

inline uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0) noexcept {
  return crc32c_sw(data, n, crc);
}
#endif

}  // namespace slimcodec
