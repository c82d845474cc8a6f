// Packed-code layout shared by every quant/ implementation: groups of 128 codes, 16*b bytes each.
// The bytes never depend on SIMD width; docs/wire-format.md refers to this definition.
#pragma once

#include <cstddef>
#include <cstdint>

namespace slimcodec::quant {

// Values per packed group. The last group of a tensor is padded with zero codes.
constexpr size_t kGroupValues = 128;
// A group is 8 rows of 16 lanes: code q[16*j + l] is row j, lane l.
constexpr size_t kGroupLanes = 16;
constexpr size_t kGroupRows = kGroupValues / kGroupLanes;
constexpr unsigned kMinBits = 1;
constexpr unsigned kMaxBits = 8;
// Largest n the API accepts: n floats must fit in memory, which also keeps packed_bytes from overflowing.
constexpr size_t kMaxValues = SIZE_MAX / sizeof(float);

constexpr bool bits_valid(unsigned bits) noexcept { return bits >= kMinBits && bits <= kMaxBits; }

// Bytes of one packed group at `bits` bits per code.
constexpr size_t group_bytes(unsigned bits) { return kGroupLanes * bits; }

// Number of groups holding n values (the last one possibly partial).
constexpr size_t group_count(size_t n) { return n / kGroupValues + (n % kGroupValues != 0 ? 1 : 0); }

// Packed size of n values at `bits` bits: ceil(n/128) * 16 * bits; 0 if bits is not in 1..8.
// Exact for every n <= kMaxValues (larger n is rejected by the API before this is used).
constexpr size_t packed_bytes(size_t n, unsigned bits) {
  return bits_valid(bits) ? group_count(n) * group_bytes(bits) : 0;
}

static_assert(packed_bytes(6 * 96 * 96, 4) == 27648, "paper: 6x96x96 at 4 bits is 27,648 bytes");
static_assert(packed_bytes(6 * 96 * 96, 1) == 6912, "paper: 6x96x96 at 1 bit is 6,912 bytes");
static_assert(packed_bytes(129, 3) == 96 && packed_bytes(0, 3) == 0 && packed_bytes(5, 9) == 0);

}  // namespace slimcodec::quant
