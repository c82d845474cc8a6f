// Frame format v1 (docs/wire-format.md): constants, the decoded header, size rules and field validation.
// Byte-level encoding lives in header_codec.hpp; this file knows nothing about byte positions but the offsets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/layout.hpp"
#include "slimcodec/common/byte_order.hpp"

namespace slimcodec::wire {

inline constexpr std::array<uint8_t, 4> kMagic = {0x53, 0x4C, 0x4D, 0x43};  // "SLMC"
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 48;
inline constexpr size_t kTrailerSize = 4;

// b and the raw bit-pack layout (128 values per group, 16 * b bytes) are the quantizer's: quant/layout.hpp.
using quant::kGroupLanes;
using quant::kGroupValues;
using quant::kMaxBits;
using quant::kMinBits;
inline constexpr unsigned kMinEnsemble = 1, kMaxEnsemble = 16;
inline constexpr unsigned kMaxChannels = 1024, kMaxHeight = 4096, kMaxWidth = 4096;
inline constexpr size_t kDefaultMaxPayload = size_t{16} << 20;  // 16 MiB


// Byte offsets of the v1 header fields.
namespace offset {
inline constexpr size_t kMagic = 0, kVersion = 4, kHeaderSize = 5, kFlags = 6, kCodec = 7, kEnsemble = 8,
                        kBits = 9, kReserved10 = 10, kChannels = 12, kHeight = 14, kWidth = 16,
                        kReserved18 = 18, kLo = 20, kHi = 24, kFrameId = 28, kTimestamp = 32,
                        kPayloadSize = 40, kHeaderCrc = 44;
}  // namespace offset

inline constexpr uint8_t kFlagsBoundModeMask = 0x03;  // bits 0-1; bits 2-7 are reserved

enum class Codec : uint8_t {
  raw_bitpack = 0,
  rans = 1,  // static-model rANS (entropy/); 2..255 reserved -> codec_unsupported
};

// Codec 1 payload: 40 bytes of table id, hash and states, then 16-bit words; always smaller than codec 0
// (the writer falls back to codec 0 otherwise). entropy/rans.hpp relies on these.
inline constexpr size_t kRansPayloadHeader = 40;
// Codec 1's value cap: a frame declares at most this many values per payload byte (C*H*W <= 256 * payload_size,
// on average at least 1/32 bit per value), so a decoder knows from the header alone that a few payload bytes
// cannot make it allocate for 2^34 values. The writer sends codec 0 when codec 1 would compress further.
inline constexpr uint64_t kRansMaxValuesPerByte = 256;

constexpr bool codec_known(Codec c) noexcept { return c == Codec::raw_bitpack || c == Codec::rans; }

// How the sender chose the bounds. Informational: a receiver always dequantizes with the lo/hi in the header.
enum class BoundMode : uint8_t {
  explicit_bounds = 0,
  from_sigma = 1,          // B = k * measured standard deviation
  from_ensemble_size = 2,  // B derived from s
  // 3 is reserved -> reserved_nonzero
};

// The decoded fields of a v1 header (reserved bits and bytes are implied zero).
struct FrameHeader {
  BoundMode bound_mode = BoundMode::explicit_bounds;
  Codec codec = Codec::raw_bitpack;
  uint8_t ensemble_size = 1;  // s, 1..16
  uint8_t bits = 1;           // b, 1..8
  uint16_t channels = 1;      // C, 1..1024
  uint16_t height = 1;        // H, 1..4096
  uint16_t width = 1;         // W, 1..4096
  float lo = -1.0f;           // finite, |lo| < 2^125, lo < hi
  float hi = 1.0f;
  uint32_t frame_id = 0;
  uint64_t timestamp_us = 0;
  uint32_t payload_size = 0;  // bytes; must equal expected_payload_size()
};

// C x H x W, the values the frame carries: up to 2^34 for the largest legal shape, so 64-bit.
constexpr uint64_t frame_values(const FrameHeader& h) noexcept { return uint64_t{h.channels} * h.height * h.width; }

// What a reader is willing to hold in memory.
struct ParserLimits {
  size_t max_payload_size = kDefaultMaxPayload;
};

// Raw bit-pack size: ceil(values / 128) * 16 * bits. 64-bit so that the largest legal shape cannot wrap.
constexpr uint64_t raw_bitpack_size(uint64_t values, unsigned bits) noexcept {
  return (values + kGroupValues - 1) / kGroupValues * kGroupLanes * bits;
}

// Payload size the codec produces for this shape and bit width; 0 for a codec whose size varies (codec 1)
// or that this build does not know.
constexpr uint64_t expected_payload_size(Codec codec, unsigned channels, unsigned height, unsigned width,
                                         unsigned bits) noexcept {
  return codec == Codec::raw_bitpack ? raw_bitpack_size(uint64_t{channels} * height * width, bits) : 0;
}

// Codec 1: payload_size even, at least 40, below the codec-0 size of the same tensor, and at least
// C*H*W / 256 (kRansMaxValuesPerByte).
constexpr bool rans_payload_size_valid(uint64_t payload_size, unsigned channels, unsigned height, unsigned width,
                                       unsigned bits) noexcept {
  const uint64_t n = uint64_t{channels} * height * width;
  return payload_size >= kRansPayloadHeader && payload_size % 2 == 0 && payload_size < raw_bitpack_size(n, bits) &&
         n <= kRansMaxValuesPerByte * payload_size;
}


constexpr uint64_t expected_payload_size(const FrameHeader& h) noexcept {
  return expected_payload_size(h.codec, h.channels, h.height, h.width, h.bits);
}

// The codec's length rule: equality for codec 0, the range above for codec 1.
constexpr bool payload_size_valid(const FrameHeader& h) noexcept {
  return h.codec == Codec::rans ? rans_payload_size_valid(h.payload_size, h.channels, h.height, h.width, h.bits)
                                : h.payload_size == expected_payload_size(h);
}

// Header + payload + trailer. Meant for a validated header (payload_size within the limits).
constexpr size_t frame_size(const FrameHeader& h) noexcept {
  return kHeaderSize + static_cast<size_t>(h.payload_size) + kTrailerSize;
}

// |v| < 2^125, i.e. a finite float whose biased exponent is at most 251: hi - lo stays finite and
// (2^b - 1) / (hi - lo) does not underflow. The other end, a tiny width, is step_is_normal's job.
inline bool bound_in_range(float v) noexcept { return ((bits_from_float(v) >> 23) & 0xFFu) <= 251u; }

// step = (hi - lo) / (2^b - 1), both operations in binary32, as a decoder computes it (docs/wire-format.md).
inline float dequantize_step(float lo, float hi, unsigned bits) noexcept {
  const float width = hi - lo;
  return width / static_cast<float>((1u << bits) - 1u);
}

// The step must be a normal float (at least 2^-126, FLT_MIN): a tiny width such as lo = 0, hi = 2^-149 would
// give a subnormal step and an infinite L / (hi - lo), and flush-to-zero targets would disagree with others.
// Requires bounds that passed bound_in_range and lo < hi, and bits in 1..8 (then the step is finite).
inline bool step_is_normal(float lo, float hi, unsigned bits) noexcept {
  return dequantize_step(lo, hi, bits) >= 0x1p-126f;
}

// Checks every header field in the order docs/wire-format.md fixes (after the byte-level checks:
// magic, version, header size, header CRC, reserved bytes), so all readers report the same first error.
inline Result<void> validate(const FrameHeader& h, const ParserLimits& limits = {}) noexcept {
  if (static_cast<uint8_t>(h.bound_mode) > kFlagsBoundModeMask)
    return Error{Errc::reserved_nonzero, "flags bits 2-7 are reserved"};
  if (h.bound_mode != BoundMode::explicit_bounds && h.bound_mode != BoundMode::from_sigma &&
      h.bound_mode != BoundMode::from_ensemble_size)
    return Error{Errc::reserved_nonzero, "bound_mode 3 is reserved"};
  if (!codec_known(h.codec)) return Errc::codec_unsupported;
  if (h.ensemble_size < kMinEnsemble || h.ensemble_size > kMaxEnsemble) return Errc::ensemble_out_of_range;
  if (!quant::bits_valid(h.bits)) return Errc::bits_out_of_range;
  if (h.channels < 1 || h.channels > kMaxChannels)
    return Error{Errc::shape_out_of_range, "channels outside 1..1024"};
  if (h.height < 1 || h.height > kMaxHeight) return Error{Errc::shape_out_of_range, "height outside 1..4096"};
  if (h.width < 1 || h.width > kMaxWidth) return Error{Errc::shape_out_of_range, "width outside 1..4096"};
  if (!bound_in_range(h.lo) || !bound_in_range(h.hi))
    return Error{Errc::bounds_invalid, "bound is NaN, infinite or not below 2^125 in magnitude"};
  if (!(h.lo < h.hi)) return Error{Errc::bounds_invalid, "lo is not below hi"};
  if (!step_is_normal(h.lo, h.hi, h.bits))
    return Error{Errc::bounds_invalid, "step (hi - lo) / (2^b - 1) is below 2^-126, not a normal float"};
  if (!payload_size_valid(h)) return Errc::length_mismatch;
  if (h.payload_size > limits.max_payload_size) return Errc::length_too_large;
  return {};
}

}  // namespace slimcodec::wire
