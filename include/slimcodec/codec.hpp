// Tensor <-> frame in one call: quantize + pack straight into the frame buffer (no copy, no allocation), and
// parse + dequantize back. The glue between quant/ and wire/ that devices and servers both use.
#pragma once

#include "slimcodec/common/shape.hpp"
#include "slimcodec/entropy/rans.hpp"
#include "slimcodec/quant/quant.hpp"
#include "slimcodec/wire/parser.hpp"
#include "slimcodec/wire/writer.hpp"

namespace slimcodec {

struct EncodeParams {
  uint8_t ensemble_size = 1;  // s that produced the tensor (1..16)
  uint8_t bits = 4;           // b (1..8)
  Shape shape{};              // C, H, W of the tensor (the frame format's limits apply)
  quant::Bounds bounds{-1.f, 1.f};
  uint32_t frame_id = 0;
  uint64_t timestamp_us = 0;
  wire::BoundMode bound_mode = wire::BoundMode::explicit_bounds;
};

// Bytes a frame of `values` values at `bits` bits occupies on the wire.
constexpr size_t max_frame_size(size_t values, unsigned bits) {
  return wire::kHeaderSize + size_t(wire::raw_bitpack_size(values, bits)) + wire::kTrailerSize;
}

// The header of p's frame with a bit-packed (codec 0) payload.
inline wire::FrameHeader codec0_header(const EncodeParams& p) {
  wire::FrameHeader h;
  h.bound_mode = p.bound_mode;
  h.ensemble_size = p.ensemble_size;
  h.bits = p.bits;
  // A dimension the header's 16 bits cannot hold becomes 0, which validation rejects (shape_out_of_range).
  const auto dim = [](int64_t v) { return v >= 1 && v <= 0xFFFF ? uint16_t(v) : uint16_t(0); };
  h.channels = dim(p.shape.c);
  h.height = dim(p.shape.h);
  h.width = dim(p.shape.w);
  h.lo = p.bounds.lo;
  h.hi = p.bounds.hi;
  h.frame_id = p.frame_id;
  h.timestamp_us = p.timestamp_us;
  h.payload_size = uint32_t(wire::expected_payload_size(h));
  return h;
}

// Quantizes a CHW tensor into a complete frame in `out`; returns the frame's size.
inline Result<size_t> encode_frame(const float* chw, const EncodeParams& p, uint8_t* out, size_t capacity) {
  wire::FrameHeader h = codec0_header(p);
  if (auto ok = wire::validate(h); !ok) return ok.error();
  if (out == nullptr || capacity < wire::frame_size(h)) return Errc::buffer_too_small;
  const size_t n = size_t(wire::frame_values(h));
  auto packed = quant::quantize_pack(chw, n, h.bits, p.bounds, out + wire::kHeaderSize, h.payload_size);
  if (!packed) return packed.error();
  return wire::seal_frame(h, out, capacity);
}

// Codec 1 for encode_frame: the tables, and scratch for the C*H*W codes (owned by the caller, so the frame
// loop does not allocate). A frame whose b or C the tables do not cover, or whose coded payload would not be
// smaller than the bit-packed one or would break codec 1's value cap (wire::kRansMaxValuesPerByte), is sent as
// codec 0.
struct EntropyCoding {
  const entropy::TableSet* tables = nullptr;
  uint8_t* scratch = nullptr;
  size_t scratch_size = 0;
};

// encode_frame with codec 1 where it saves bytes. `capacity` must hold the codec-0 frame (max_frame_size).
inline Result<size_t> encode_frame(const float* chw, const EncodeParams& p, uint8_t* out, size_t capacity,
                                   const EntropyCoding& ec) {
  if (ec.tables == nullptr || !ec.tables->has(p.bits) || int64_t(ec.tables->channels()) != p.shape.c)
    return encode_frame(chw, p, out, capacity);
  wire::FrameHeader h = codec0_header(p);
  if (auto ok = wire::validate(h); !ok) return ok.error();
  const size_t n = size_t(wire::frame_values(h));
  if (ec.scratch == nullptr || ec.scratch_size < n) return Error{Errc::buffer_too_small, "entropy scratch < C*H*W"};
  if (chw == nullptr) return Error{Errc::invalid_argument, "null tensor"};
  if (out == nullptr || capacity < wire::frame_size(h)) return Errc::buffer_too_small;
  // The tensor is quantized once: the codes are entropy-coded, or bit-packed as codec 0 when that is not smaller.
  if (auto codes = quant::quantize_codes(chw, n, h.bits, p.bounds, ec.scratch, ec.scratch_size); !codes)
    return codes.error();
  // Codec 1 only when strictly smaller than codec 0: the coder gets one byte less than the raw payload.
  auto coded = entropy::encode_payload(ec.scratch, h.channels, size_t(h.height) * h.width, h.bits, *ec.tables,
                                       out + wire::kHeaderSize, size_t(h.payload_size) - 1);
  // A payload too short for its value count (the spec's cap: C*H*W <= 256 * payload_size) is not a valid codec-1
  // frame: such a tensor (nearly constant) goes as codec 0.
  if (coded && n <= wire::kRansMaxValuesPerByte * *coded) {
    h.codec = wire::Codec::rans;
    h.payload_size = uint32_t(*coded);
    return wire::seal_frame(h, out, capacity);
  }
  if (!coded && coded.code() != Errc::buffer_too_small) return coded.error();
  auto packed = quant::pack_codes(ec.scratch, n, h.bits, out + wire::kHeaderSize, h.payload_size);
  if (!packed) return packed.error();
  return wire::seal_frame(h, out, capacity);
}

// Dequantizes a parsed frame's payload into `out` (C*H*W floats, CHW). Codec-1 frames need the tables the
// frame names (entropy_table_mismatch without them); their codes are decoded into the last C*H*W bytes of
// `out` and expanded in place, so nothing is allocated.
inline Result<size_t> dequantize_frame(const wire::FrameView& f, float* out, size_t capacity,
                                       const entropy::TableSet* tables) {
  const wire::FrameHeader& h = f.header;
  const size_t n = size_t(wire::frame_values(h));
  if (h.codec != wire::Codec::rans)
    return quant::unpack_dequantize(f.payload, h.payload_size, n, h.bits, quant::Bounds{h.lo, h.hi}, out, capacity);
  if (tables == nullptr) return Error{Errc::entropy_table_mismatch, "codec-1 frame and no entropy tables"};
  // 64-bit count: on a 32-bit host C*H*W of a hostile header can exceed SIZE_MAX.
  if (out == nullptr || wire::frame_values(h) > capacity) return Errc::buffer_too_small;
  const quant::Bounds bounds{h.lo, h.hi};
  if (!quant::bounds_valid(bounds)) return Errc::bounds_invalid;
  uint8_t* codes = reinterpret_cast<uint8_t*>(out) + 3 * n;  // float i overwrites code j only for j <= i
  if (auto ok = entropy::decode_payload(f.payload, h.payload_size, h.bits, h.channels, size_t(h.height) * h.width,
                                        *tables, codes, n);
      !ok)
    return ok.error();
  const quant::QuantParams qp = quant::make_params(h.bits, bounds);
  float lut[256];
  for (uint32_t q = 0; q < (1u << h.bits); ++q) lut[q] = quant::ref::dequantize_value(q, qp);
  for (size_t i = 0; i < n; ++i) out[i] = lut[codes[i]];
  return n;
}

inline Result<size_t> dequantize_frame(const wire::FrameView& f, float* out, size_t capacity) {
  return dequantize_frame(f, out, capacity, nullptr);
}

// Parses one whole frame from `bytes` and dequantizes it (codec 1 with `tables`); returns its header.
inline Result<wire::FrameHeader> decode_frame(const uint8_t* bytes, size_t n, float* out, size_t capacity,
                                              const entropy::TableSet* tables = nullptr) {
  auto frame = wire::parse_frame(bytes, n);
  if (!frame) return frame.error();
  if (auto values = dequantize_frame(*frame, out, capacity, tables); !values) return values.error();
  return frame->header;
}

}  // namespace slimcodec
