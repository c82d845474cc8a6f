// Frames the server tests send: encoded frames of N(0, 1) values with the digest the identity backend must report,
// and bare headers for frames whose payload never comes. Shared by the Catch programs and hostile_clients (which
// has no Catch), so a frame the encoder refuses aborts: that is a mistake in the test, not in the service.
#pragma once

#include <slimcodec/codec.hpp>
#include <slimcodec/wire/header_codec.hpp>
#include <slimcodec/wire/reply.hpp>

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

}  // namespace slimcodec::test
