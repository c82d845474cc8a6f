// Frames the server tests send: encoded frames of N(0, 1) values with the digest the identity backend must report,
// and bare headers for frames whose payload never comes. Shared by the Catch programs and hostile_clients (which
// has no Catch), so a frame the encoder refuses aborts: that is a mistake in the test, not in the service.
#pragma once

#include <slimcodec/codec.hpp>
#include <slimcodec/wire/header_codec.hpp>
#include <slimcodec/common/crc32c.hpp>
#include <slimcodec/wire/reply.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace slimcodec::test {

struct TestFrame {
  std::vector<uint8_t> bytes;
  uint64_t digest = 0;  // of the values the frame decodes to: what the identity backend reports
};

// c x h x w values drawn from N(0, 1) with `seed`, at `bits` over bounds [-3, 3], frame id `id`. With `tables`,
// a codec-1 (rANS) frame coded with them; the digest is then of the values decoded with the same tables.
inline TestFrame make_frame(uint32_t id, unsigned bits, uint16_t c, uint16_t h, uint16_t w, uint32_t seed,
                            const entropy::TableSet* tables = nullptr) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(size_t(c) * h * w);
  for (auto& v : x) v = normal(rng);
  const EncodeParams p{1, uint8_t(bits), {c, h, w}, quant::Bounds{-3.f, 3.f}, id, 1000u + id};
  TestFrame f{std::vector<uint8_t>(max_frame_size(x.size(), bits)), 0};
  std::vector<uint8_t> codes(tables ? x.size() : 0);
  auto n = tables ? encode_frame(x.data(), p, f.bytes.data(), f.bytes.size(), EntropyCoding{tables, codes.data(), codes.size()})
                  : encode_frame(x.data(), p, f.bytes.data(), f.bytes.size());
  std::vector<float> y(x.size());
  if (!n || !decode_frame(f.bytes.data(), *n, y.data(), y.size(), tables)) {
    std::fprintf(stderr, "test_frames: cannot encode and decode frame %u\n", unsigned(id));
    std::abort();
  }
  f.bytes.resize(*n);
  f.digest = wire::digest_features(y.data(), y.size());
  return f;
}

// A consistent header (payload size as the shape and bits call for, bounds [-1, 1]) for a frame never sent whole.
inline wire::FrameHeader header_for(uint16_t c, uint16_t h, uint16_t w, uint8_t bits, uint32_t id = 1) {
  wire::FrameHeader hd;
  hd.bits = bits;
  hd.channels = c;
  hd.height = h;
  hd.width = w;
  hd.frame_id = id;
  hd.lo = -1.f;
  hd.hi = 1.f;
  hd.payload_size = uint32_t(wire::expected_payload_size(hd));
  return hd;
}

inline std::vector<uint8_t> header_bytes(const wire::FrameHeader& hd) {
  std::vector<uint8_t> b(wire::kHeaderSize);
  wire::encode_header(hd, b.data());
  return b;
}

// A whole frame with header `hd` exactly as given (no validation: codec, shape and payload_size may break the
// spec's rules) and `payload`, with both CRCs correct: what a hostile client crafts.
inline std::vector<uint8_t> crafted_frame(const wire::FrameHeader& hd, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> b(wire::kHeaderSize + payload.size() + wire::kTrailerSize);
  wire::encode_header(hd, b.data());
  std::copy(payload.begin(), payload.end(), b.begin() + wire::kHeaderSize);
  const uint32_t crc = slimcodec::crc32c(b.data(), wire::kHeaderSize + payload.size());
  for (int i = 0; i < 4; ++i) b[wire::kHeaderSize + payload.size() + size_t(i)] = uint8_t(crc >> (8 * i));
  return b;
}

// Frames that must be refused before any allocation. A 92-byte codec-1 frame declaring c x h x w values at 4 bits in a 40-byte payload (states
// 2^15, table id 7, hash 0): with c x h x w above 10,240 it breaks the value cap (length_mismatch from the header).
inline std::vector<uint8_t> tiny_codec1_frame(uint16_t c, uint16_t h, uint16_t w, uint32_t id = 1) {
  wire::FrameHeader hd = header_for(c, h, w, 4, id);
  hd.codec = wire::Codec::rans;
  hd.payload_size = 40;
  std::vector<uint8_t> payload(40, 0);
  payload[0] = 7;
  for (size_t j = 0; j < 8; ++j) payload[8 + 4 * j + 1] = 0x80;  // state 2^15, little-endian
  return crafted_frame(hd, payload);
}

// A valid codec-0 frame whose bounds are +-3e37 (legal: below 2^125): every value is +-3e37 or near it, which
// overflows a network's arithmetic to infinity and NaN.
inline std::vector<uint8_t> huge_bounds_frame(uint16_t c, uint16_t h, uint16_t w, uint32_t id = 1) {
  wire::FrameHeader hd = header_for(c, h, w, 8, id);
  hd.lo = -3e37f;
  hd.hi = 3e37f;
  std::vector<uint8_t> payload(hd.payload_size);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i % 2 ? 0xFF : 0x00);
  return crafted_frame(hd, payload);
}

}  // namespace slimcodec::test
