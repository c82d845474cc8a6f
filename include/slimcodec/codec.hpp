// Tensor <-> frame in one call: quantize + pack straight into the frame buffer (no copy, no allocation), and
// parse + dequantize back. The glue between quant/ and wire/ that devices and servers both use.
#pragma once

#include <slimcodec/quant/quant.hpp>
#include <slimcodec/wire/parser.hpp>
#include <slimcodec/wire/writer.hpp>

namespace slimcodec {

struct EncodeParams {
  uint8_t ensemble_size = 1;  // s that produced the tensor (1..16)
  uint8_t bits = 4;           // b (1..8)
  struct {
    uint16_t channels, height, width;
  } shape{};
  quant::Bounds bounds{-1.f, 1.f};
  uint32_t frame_id = 0;
  uint64_t timestamp_us = 0;
  wire::BoundMode bound_mode = wire::BoundMode::explicit_bounds;
};

// Bytes a frame of `values` values at `bits` bits occupies on the wire.
constexpr size_t max_frame_size(size_t values, unsigned bits) {
  return wire::kHeaderSize + size_t(wire::raw_bitpack_size(values, bits)) + wire::kTrailerSize;
}

// Quantizes a CHW tensor into a complete frame in `out`; returns the frame's size.
inline Result<size_t> encode_frame(const float* chw, const EncodeParams& p, uint8_t* out, size_t capacity) {
  wire::FrameHeader h;
  h.bound_mode = p.bound_mode;
  h.ensemble_size = p.ensemble_size;
  h.bits = p.bits;
  h.channels = p.shape.channels;
  h.height = p.shape.height;
  h.width = p.shape.width;
  h.lo = p.bounds.lo;
  h.hi = p.bounds.hi;
  h.frame_id = p.frame_id;
  h.timestamp_us = p.timestamp_us;
  h.payload_size = uint32_t(wire::expected_payload_size(h));
  if (auto ok = wire::validate(h); !ok) return ok.error();
  if (out == nullptr || capacity < wire::frame_size(h)) return Errc::buffer_too_small;
  const size_t n = size_t(h.channels) * h.height * h.width;
  auto packed = quant::quantize_pack(chw, n, h.bits, p.bounds, out + wire::kHeaderSize, h.payload_size);
  if (!packed) return packed.error();
  return wire::seal_frame(h, out, capacity);
}

// Dequantizes a parsed frame's payload into `out` (C*H*W floats, CHW).
inline Result<size_t> dequantize_frame(const wire::FrameView& f, float* out, size_t capacity) {
  const wire::FrameHeader& h = f.header;
  const size_t n = size_t(h.channels) * h.height * h.width;
  return quant::unpack_dequantize(f.payload, h.payload_size, n, h.bits, quant::Bounds{h.lo, h.hi}, out, capacity);
}

// Parses one whole frame from `bytes` and dequantizes it; returns its header.
inline Result<wire::FrameHeader> decode_frame(const uint8_t* bytes, size_t n, float* out, size_t capacity) {
  auto frame = wire::parse_frame(bytes, n);
  if (!frame) return frame.error();
  if (auto values = dequantize_frame(*frame, out, capacity); !values) return values.error();
  return frame->header;
}

}  // namespace slimcodec
