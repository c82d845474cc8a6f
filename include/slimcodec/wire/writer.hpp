// Frame writer: header + payload + CRCs into a caller-owned buffer. No allocation.
// seal_frame is the zero-copy path for payloads the packer already wrote at buf + kHeaderSize.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "slimcodec/common/result.hpp"
#include "slimcodec/common/crc32c.hpp"
#include "slimcodec/wire/frame.hpp"
#include "slimcodec/wire/header_codec.hpp"

namespace slimcodec::wire {

namespace detail {

// payload_size 0 means "fill in from the codec"; any other value must already be right.
inline Result<FrameHeader> complete_header(FrameHeader h, const ParserLimits& limits) noexcept {
  if (h.payload_size == 0) {
    const uint64_t expected = expected_payload_size(h);
    h.payload_size = expected <= UINT32_MAX ? static_cast<uint32_t>(expected) : 0;
  }
  if (auto ok = validate(h, limits); !ok) return ok.error();
  return h;
}

}  // namespace detail

// Writes header, header CRC and frame CRC around the h.payload_size bytes the caller already placed at
// buf + kHeaderSize. Returns the frame size. A writer never emits a frame a reader with `limits` rejects.
inline Result<size_t> seal_frame(FrameHeader h, uint8_t* buf, size_t cap,
                                 const ParserLimits& limits = {}) noexcept {
  auto full = detail::complete_header(h, limits);
  if (!full) return full.error();
  const size_t size = frame_size(*full);
  if (buf == nullptr || cap < size) return Errc::buffer_too_small;
  encode_header(*full, buf);
  const size_t body = kHeaderSize + full->payload_size;
  store_le32(buf + body, crc32c(buf, body));
  return size;
}

// Copies h.payload_size bytes from payload into out + kHeaderSize and seals the frame (payload may already
// sit there). payload_size 0 in h is filled from the codec; returns the frame size.
inline Result<size_t> write_frame(const FrameHeader& h, const uint8_t* payload, uint8_t* out, size_t cap,
                                  const ParserLimits& limits = {}) noexcept {
  auto full = detail::complete_header(h, limits);
  if (!full) return full.error();
  if (out == nullptr || cap < frame_size(*full)) return Errc::buffer_too_small;
  if (payload == nullptr) return Error{Errc::invalid_argument, "payload is null"};
  // memmove: the payload may overlap the output buffer (e.g. already at out + kHeaderSize).
  std::memmove(out + kHeaderSize, payload, full->payload_size);
  return seal_frame(*full, out, cap, limits);
}

}  // namespace slimcodec::wire
