// The decode service's reply to one frame: a fixed 44-byte little-endian record (see docs/wire-format.md,
// "Reply"). It echoes the frame id and timestamp so the device can match replies and measure round trips,
// and carries the server-side decode time that the adaptive controller needs.
#pragma once

#include <slimcodec/common/result.hpp>
#include <slimcodec/wire/byte_order.hpp>
#include <slimcodec/wire/crc32c.hpp>

#include <array>
#include <cstdint>
#include <cstring>

namespace slimcodec::serve {

inline constexpr uint8_t kReplyMagic[4] = {'S', 'L', 'M', 'R'};
inline constexpr uint8_t kReplyVersion = 1;
inline constexpr size_t kReplySize = 44;

struct Reply {
  Errc status = Errc::ok;       // ok, or why the frame (or the stream) was rejected
  uint32_t frame_id = 0;        // the frame's id; 0 for stream errors that precede any frame header
  uint32_t decode_us = 0;       // server-side decode time (dequantize + backend), microseconds
  uint64_t timestamp_us = 0;    // the frame's timestamp, echoed
  uint64_t digest = 0;          // digest_features() of the output; 0 on error
  uint16_t out_channels = 0, out_height = 0, out_width = 0;
};

using ReplyBytes = std::array<uint8_t, kReplySize>;

inline ReplyBytes write_reply(const Reply& r) {
  ReplyBytes b{};
  std::memcpy(b.data(), kReplyMagic, 4);
  b[4] = kReplyVersion;
  b[5] = uint8_t(r.status);
  wire::store_le32(&b[8], r.frame_id);
  wire::store_le32(&b[12], r.decode_us);
  wire::store_le64(&b[16], r.timestamp_us);
  wire::store_le64(&b[24], r.digest);
  wire::store_le16(&b[32], r.out_channels);
  wire::store_le16(&b[34], r.out_height);
  wire::store_le16(&b[36], r.out_width);
  wire::store_le32(&b[40], wire::crc32c(b.data(), 40));
  return b;
}

inline Result<Reply> parse_reply(const uint8_t* p, size_t n) {
  if (n < kReplySize) return Errc::truncated;
  if (std::memcmp(p, kReplyMagic, 4) != 0) return Errc::bad_magic;
  if (p[4] != kReplyVersion) return Errc::version_unsupported;
  if (p[6] != 0 || p[7] != 0 || p[38] != 0 || p[39] != 0) return Errc::reserved_nonzero;
  if (wire::load_le32(p + 40) != wire::crc32c(p, 40)) return Errc::crc_mismatch;
  Reply r;
  r.status = Errc(p[5]);
  r.frame_id = wire::load_le32(p + 8);
  r.decode_us = wire::load_le32(p + 12);
  r.timestamp_us = wire::load_le64(p + 16);
  r.digest = wire::load_le64(p + 24);
  r.out_channels = wire::load_le16(p + 32);
  r.out_height = wire::load_le16(p + 34);
  r.out_width = wire::load_le16(p + 36);
  return r;
}

// 64-bit FNV-1a over the output's float bits, one 32-bit word at a time: cheap, and any changed value changes it
// with overwhelming probability. Lets a client check "the server computed what I expect" without the tensor.
inline uint64_t digest_features(const float* x, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    h = (h ^ bits) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace slimcodec::serve
