// The work one frame needs on the server, shared by every transport: admit it (every check that needs no decoding,
// before anything is allocated for its values), dequantize the payload (codec.hpp's dequantize_frame: codec 0, or
// codec 1 with the service's entropy tables), run the backend, check its output is finite, and describe the result
// as a Reply (with the decode time the device's controller uses). An allocation that fails (a valid but large frame
// on a small server) becomes a reply with status out_of_memory; a codec-1 frame whose tables the service does not
// hold (or no tables at all) a reply with status entropy_table_mismatch; an output with a NaN or an infinity a reply
// with status output_not_finite, never ok.
#pragma once

#include "slimcodec/codec.hpp"
#include "slimcodec/common/alloc.hpp"
#include "slimcodec/entropy/tables.hpp"
#include "slimcodec/server/backend.hpp"
#include "slimcodec/wire/frame.hpp"
#include "slimcodec/wire/parser.hpp"
#include "slimcodec/wire/reply.hpp"

#include <chrono>
#include <vector>

namespace slimcodec::server {

// A worker keeps its dequantization scratch between frames up to this size; a larger one is freed after its
// frame, so one big frame does not hold memory that the service's budget no longer counts.
inline constexpr size_t kKeepScratchBytes = size_t(16) << 20;

// A frame of at least this many values (1 MiB of floats) is heavy work for the worker pool (TaskOrder::heavy): it
// may not take every decode thread at once.
inline constexpr uint64_t kHeavyFrameValues = uint64_t(1) << 18;
inline bool heavy_frame(const wire::FrameHeader& h) { return wire::frame_values(h) >= kHeavyFrameValues; }

// Bytes decoding a frame allocates for its values (dequantized floats; codec-1 codes are decoded inside them).
inline uint64_t frame_float_bytes(const wire::FrameHeader& h) { return wire::frame_values(h) * sizeof(float); }

// Every check on a parsed frame that needs no decoding, in this order: the payload's length, codec 1's tables
// (none loaded; then the payload's reserved bytes, table id and hash, and whether the set covers b and C:
// entropy::check_payload_tables), then the backend's accepted shapes (shape_out_of_range). The frame's value count
// is already bounded by its length (wire/frame.hpp: codec 0 exactly, codec 1 by the value cap). Nothing is
// allocated: a service runs this before it charges or allocates anything that grows with the frame's shape.
inline Result<void> admit_frame(const wire::FrameHeader& h, const uint8_t* payload, size_t payload_size,
                                const entropy::TableSet* tables, const ShapeLimits& accepted) {
  if (payload_size != h.payload_size || !wire::payload_size_valid(h)) return Errc::length_mismatch;
  if (h.codec == wire::Codec::rans) {
    if (tables == nullptr) return Error{Errc::entropy_table_mismatch, "codec-1 frame and no entropy tables"};
    if (auto ok = entropy::check_payload_tables(payload, payload_size, h.bits, h.channels, *tables); !ok) return ok;
  }
  if (!accepted.accepts(Shape{h.channels, h.height, h.width}))
    return Error{Errc::shape_out_of_range, "the backend does not take this shape"};
  return {};
}

// Decodes a frame admit_frame has accepted (the caller ran it, and charged what the frame's values cost): dequantize
// its payload into `scratch`, run the backend, describe the result as a Reply. `frame.payload` holds its payload_size
// bytes (the parser checked the CRC). `tables`: the codec-1 tables, or nullptr when the service has none.
inline wire::Reply decode_admitted_frame(DecoderBackend& backend, const wire::FrameView& frame,
                                         std::vector<float>& scratch, const entropy::TableSet* tables = nullptr) {
  const wire::FrameHeader& h = frame.header;
  wire::Reply reply;
  reply.frame_id = h.frame_id;
  reply.timestamp_us = h.timestamp_us;
  const auto start = std::chrono::steady_clock::now();
  const Shape shape{h.channels, h.height, h.width};
  struct ReleaseLargeScratch {
    std::vector<float>& v;
    ~ReleaseLargeScratch() {
      if (v.capacity() * sizeof(float) > kKeepScratchBytes) std::vector<float>().swap(v);
    }
  } release{scratch};
  if (!try_resize(scratch, shape.size())) {
    reply.status = Errc::out_of_memory;
    return reply;
  }
  auto n = dequantize_frame(frame, scratch.data(), scratch.size(), tables);
  if (!n) {
    reply.status = n.code();
    return reply;
  }
  auto out = backend.decode(scratch.data(), shape);
  if (!out) {
    reply.status = out.code();
    return reply;
  }
  const auto stop = std::chrono::steady_clock::now();
  const auto& f = out->features;
  if (!all_finite(f.data, f.shape.size())) {  // e.g. bounds near 2^125 overflowing the network: not an answer
    reply.status = Errc::output_not_finite;
    return reply;
  }
  reply.decode_us = uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(stop - start).count());
  reply.digest = wire::digest_features(f.data, f.shape.size());
  reply.out_channels = uint16_t(f.shape.c);
  reply.out_height = uint16_t(f.shape.h);
  reply.out_width = uint16_t(f.shape.w);
  const Detections found = backend.detections();  // the task's result section (empty for most backends)
  reply.detection_count = uint16_t(found.count < wire::kMaxDetections ? found.count : wire::kMaxDetections);
  for (size_t i = 0; i < reply.detection_count; ++i) reply.detections[i] = found.data[i];
  return reply;
}

// admit_frame, then decode_admitted_frame: for a caller that holds a payload and nothing else (tests, one-off
// decodes). `payload` holds the frame's payload_size bytes.
inline wire::Reply decode_frame_to_reply(DecoderBackend& backend, const wire::FrameHeader& h, const uint8_t* payload,
                                         size_t payload_size, std::vector<float>& scratch,
                                         const entropy::TableSet* tables = nullptr) {
  if (auto admitted = admit_frame(h, payload, payload_size, tables, backend.accepted()); !admitted) {
    wire::Reply reply;  // before anything is allocated for the frame's values
    reply.frame_id = h.frame_id;
    reply.timestamp_us = h.timestamp_us;
    reply.status = admitted.code();
    return reply;
  }
  return decode_admitted_frame(backend, wire::FrameView{h, payload, payload_size, wire::frame_size(h)}, scratch,
                               tables);
}

}  // namespace slimcodec::server
