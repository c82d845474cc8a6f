// The decode service's reply to one frame (docs/wire-format.md, "Reply"): a 40-byte little-endian head that echoes
// the frame id and timestamp (round trips), carries the server's decode time (the adaptive controller) and a digest
// of the decoded features, then the task's result section (detection_count records of 24 bytes: class, score,
// box) and a CRC-32C. Version 2; version 1 (44 bytes, no result section) is refused with version_unsupported.
// Validation order as for frames: sizes, then the CRC, then reserved bytes, then the values.
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/common/byte_order.hpp"
#include "slimcodec/common/crc32c.hpp"
#include "slimcodec/wire/detection.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace slimcodec::wire {

inline constexpr uint8_t kReplyMagic[4] = {'S', 'L', 'M', 'R'};
inline constexpr uint8_t kReplyVersion = 2;
inline constexpr size_t kReplyHeadSize = 40;        // bytes before the detection records; enough to size a reply
inline constexpr size_t kDetectionRecordSize = 24;  // class_id u16, reserved u16, score, x1, y1, x2, y2 (binary32)
inline constexpr size_t kReplySize = kReplyHeadSize + 4;  // a reply with an empty result section (the smallest)
inline constexpr size_t kReplyMaxSize = kReplySize + kMaxDetections * kDetectionRecordSize;  // 2,444 bytes

struct Reply {
  Errc status = Errc::ok;       // ok, or why the frame (or the stream) was rejected
  uint32_t frame_id = 0;        // the frame's id; 0 for stream errors that precede any frame header
  uint32_t decode_us = 0;       // server-side decode time (dequantize + backend), microseconds
  uint64_t timestamp_us = 0;    // the frame's timestamp, echoed
  uint64_t digest = 0;          // digest_features() of the output; 0 on error
  uint16_t out_channels = 0, out_height = 0, out_width = 0;
  // Result section: the backend's detections, best first (boxes in the model input's pixels); empty for a backend
  // without a task result, and on error.
  uint16_t detection_count = 0;
  std::array<Detection, kMaxDetections> detections{};
};

// The bytes of one reply: size() of them are valid. Default-constructed: the kReplySize bytes of a reply with an
// empty result section (what a reader of fixed-size, detection-less replies reads into).
class ReplyBytes {
 public:
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return size_; }
  uint8_t& operator[](size_t i) { return bytes_[i]; }
  const uint8_t& operator[](size_t i) const { return bytes_[i]; }
  uint8_t* begin() { return bytes_.data(); }
  uint8_t* end() { return bytes_.data() + size_; }
  const uint8_t* begin() const { return bytes_.data(); }
  const uint8_t* end() const { return bytes_.data() + size_; }
  void resize(size_t n) { size_ = n <= kReplyMaxSize ? n : kReplyMaxSize; }

 private:
  std::array<uint8_t, kReplyMaxSize> bytes_{};
  size_t size_ = kReplySize;
};

inline constexpr size_t reply_size(size_t detection_count) {
  return kReplySize + detection_count * kDetectionRecordSize;
}

// Writes a version-2 reply. At most kMaxDetections records are written (detection_count is clamped); an error
// status sends an empty result section.
inline ReplyBytes write_reply(const Reply& r) {
  ReplyBytes b;
  const size_t count = r.status != Errc::ok ? 0 : (r.detection_count <= kMaxDetections ? r.detection_count : kMaxDetections);
  b.resize(reply_size(count));
  uint8_t* p = b.data();
  std::memcpy(p, kReplyMagic, 4);
  p[4] = kReplyVersion;
  p[5] = uint8_t(r.status);
  store_le32(p + 8, r.frame_id);
  store_le32(p + 12, r.decode_us);
  store_le64(p + 16, r.timestamp_us);
  store_le64(p + 24, r.digest);
  store_le16(p + 32, r.out_channels);
  store_le16(p + 34, r.out_height);
  store_le16(p + 36, r.out_width);
  store_le16(p + 38, uint16_t(count));
  for (size_t i = 0; i < count; ++i) {
    const Detection& d = r.detections[i];
    uint8_t* q = p + kReplyHeadSize + i * kDetectionRecordSize;
    store_le16(q, d.class_id);
    store_le32(q + 4, bits_from_float(d.score));
    store_le32(q + 8, bits_from_float(d.x1));
    store_le32(q + 12, bits_from_float(d.y1));
    store_le32(q + 16, bits_from_float(d.x2));
    store_le32(q + 20, bits_from_float(d.y2));
  }
  const size_t body = kReplyHeadSize + count * kDetectionRecordSize;
  store_le32(p + body, crc32c(p, body));
  return b;
}

// The whole size of the reply that starts at p, from its first kReplyHeadSize bytes (stream readers: read those,
// then the rest). Errors: truncated (fewer than kReplyHeadSize bytes), bad_magic, version_unsupported,
// length_too_large (detection_count above kMaxDetections).
inline Result<size_t> peek_reply_size(const uint8_t* p, size_t n) noexcept {
  if (n < kReplyHeadSize) return Errc::truncated;
  if (std::memcmp(p, kReplyMagic, 4) != 0) return Errc::bad_magic;
  if (p[4] != kReplyVersion) return Errc::version_unsupported;
  const size_t count = load_le16(p + 38);
  if (count > kMaxDetections) return Errc::length_too_large;
  return reply_size(count);
}

// Parses the reply at the start of [p, p + n); bytes after it (reply_size(detection_count) bytes) are not looked at:
// they are the next reply. Checks in the order of docs/wire-format.md, "Reply validation order": the head's checks
// (peek_reply_size) need only its kReplyHeadSize bytes, so a stream reader that has read the head and this function
// report the same error for the same bytes.
inline Result<Reply> parse_reply(const uint8_t* p, size_t n) noexcept {
  if (p == nullptr) return Errc::truncated;
  auto size = peek_reply_size(p, n);
  if (!size) return size.error();
  if (n < *size) return Errc::truncated;
  const size_t body = *size - 4;
  if (load_le32(p + body) != crc32c(p, body)) return Errc::crc_mismatch;
  Reply r;
  r.detection_count = load_le16(p + 38);
  if (p[6] != 0 || p[7] != 0) return Errc::reserved_nonzero;
  for (size_t i = 0; i < r.detection_count; ++i) {
    const uint8_t* q = p + kReplyHeadSize + i * kDetectionRecordSize;
    if (q[2] != 0 || q[3] != 0) return Errc::reserved_nonzero;
  }
  r.status = Errc(p[5]);
  if (r.status != Errc::ok && r.detection_count != 0) return Errc::length_mismatch;
  for (size_t i = 0; i < r.detection_count; ++i) {
    const uint8_t* q = p + kReplyHeadSize + i * kDetectionRecordSize;
    Detection& d = r.detections[i];
    d.class_id = load_le16(q);
    d.score = float_from_bits(load_le32(q + 4));
    d.x1 = float_from_bits(load_le32(q + 8));
    d.y1 = float_from_bits(load_le32(q + 12));
    d.x2 = float_from_bits(load_le32(q + 16));
    d.y2 = float_from_bits(load_le32(q + 20));
    if (!(d.score >= 0.f && d.score <= 1.f) || !std::isfinite(d.x1) || !std::isfinite(d.y1) || !std::isfinite(d.x2) ||
        !std::isfinite(d.y2)) {
      return Errc::bounds_invalid;
    }
  }
  r.frame_id = load_le32(p + 8);
  r.decode_us = load_le32(p + 12);
  r.timestamp_us = load_le64(p + 16);
  r.digest = load_le64(p + 24);
  r.out_channels = load_le16(p + 32);
  r.out_height = load_le16(p + 34);
  r.out_width = load_le16(p + 36);
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

}  // namespace slimcodec::wire
