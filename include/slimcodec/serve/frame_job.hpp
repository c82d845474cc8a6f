// The work one frame needs on the server, shared by every transport: dequantize the payload, run the
// backend, and describe the result as a Reply (with the decode time the device's controller uses).
#pragma once

#include <slimcodec/decode/backend.hpp>
#include <slimcodec/quant/quant.hpp>
#include <slimcodec/serve/reply.hpp>
#include <slimcodec/wire/frame.hpp>

#include <chrono>
#include <vector>

namespace slimcodec::serve {

inline Reply decode_frame_to_reply(decode::DecoderBackend& backend, const wire::FrameHeader& h, const uint8_t* payload,
                                   size_t payload_size, std::vector<float>& scratch) {
  Reply reply;
  reply.frame_id = h.frame_id;
  reply.timestamp_us = h.timestamp_us;
  const auto start = std::chrono::steady_clock::now();
  const decode::TensorShape shape{h.channels, h.height, h.width};
  scratch.resize(shape.size());
  auto n = quant::unpack_dequantize(payload, payload_size, shape.size(), h.bits, quant::Bounds{h.lo, h.hi},
                                    scratch.data(), scratch.size());
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
  reply.decode_us = uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(stop - start).count());
  reply.digest = digest_features(f.data, f.shape.size());
  reply.out_channels = uint16_t(f.shape.channels);
  reply.out_height = uint16_t(f.shape.height);
  reply.out_width = uint16_t(f.shape.width);
  return reply;
}

}  // namespace slimcodec::serve
