// The 48-byte v1 header as bytes: encode (with its CRC-32C) and decode with the spec's validation order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "slimcodec/common/result.hpp"
#include "slimcodec/common/byte_order.hpp"
#include "slimcodec/common/crc32c.hpp"
#include "slimcodec/wire/frame.hpp"

namespace slimcodec::wire {

// Writes all kHeaderSize bytes at out, header CRC included. Does not validate (the writer does).
inline void encode_header(const FrameHeader& h, uint8_t* out) noexcept {
  for (size_t i = 0; i < kMagic.size(); ++i) out[offset::kMagic + i] = kMagic[i];
  out[offset::kVersion] = kVersion;
  out[offset::kHeaderSize] = static_cast<uint8_t>(kHeaderSize);
  out[offset::kFlags] = static_cast<uint8_t>(static_cast<uint8_t>(h.bound_mode) & kFlagsBoundModeMask);
  out[offset::kCodec] = static_cast<uint8_t>(h.codec);
  out[offset::kEnsemble] = h.ensemble_size;
  out[offset::kBits] = h.bits;
  store_le16(out + offset::kReserved10, 0);
  store_le16(out + offset::kChannels, h.channels);
  store_le16(out + offset::kHeight, h.height);
  store_le16(out + offset::kWidth, h.width);
  store_le16(out + offset::kReserved18, 0);
  store_le32(out + offset::kLo, bits_from_float(h.lo));
  store_le32(out + offset::kHi, bits_from_float(h.hi));
  store_le32(out + offset::kFrameId, h.frame_id);
  store_le64(out + offset::kTimestamp, h.timestamp_us);
  store_le32(out + offset::kPayloadSize, h.payload_size);
  store_le32(out + offset::kHeaderCrc, crc32c(out, offset::kHeaderCrc));
}

// Reads and validates the kHeaderSize bytes at p (the caller guarantees they exist). Checks run in the
// documented order: magic, version, header size, header CRC, reserved bits and bytes, then validate().
inline Result<FrameHeader> decode_header(const uint8_t* p, const ParserLimits& limits = {}) noexcept {
  for (size_t i = 0; i < kMagic.size(); ++i) {
    if (p[offset::kMagic + i] != kMagic[i]) return Errc::bad_magic;
  }
  if (p[offset::kVersion] != kVersion) return Errc::version_unsupported;
  if (p[offset::kHeaderSize] != kHeaderSize) return Errc::header_size_invalid;
  if (crc32c(p, offset::kHeaderCrc) != load_le32(p + offset::kHeaderCrc)) return Errc::header_crc_mismatch;
  if ((p[offset::kFlags] & ~kFlagsBoundModeMask) != 0)
    return Error{Errc::reserved_nonzero, "flags bits 2-7 are reserved"};
  if (load_le16(p + offset::kReserved10) != 0) return Error{Errc::reserved_nonzero, "bytes 10-11 are reserved"};
  if (load_le16(p + offset::kReserved18) != 0) return Error{Errc::reserved_nonzero, "bytes 18-19 are reserved"};

  FrameHeader h;
  h.bound_mode = static_cast<BoundMode>(p[offset::kFlags] & kFlagsBoundModeMask);
  h.codec = static_cast<Codec>(p[offset::kCodec]);
  h.ensemble_size = p[offset::kEnsemble];
  h.bits = p[offset::kBits];
  h.channels = load_le16(p + offset::kChannels);
  h.height = load_le16(p + offset::kHeight);
  h.width = load_le16(p + offset::kWidth);
  h.lo = float_from_bits(load_le32(p + offset::kLo));
  h.hi = float_from_bits(load_le32(p + offset::kHi));
  h.frame_id = load_le32(p + offset::kFrameId);
  h.timestamp_us = load_le64(p + offset::kTimestamp);
  h.payload_size = load_le32(p + offset::kPayloadSize);
  if (auto ok = validate(h, limits); !ok) return ok.error();
  return h;
}

}  // namespace slimcodec::wire
