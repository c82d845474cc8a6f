// Frames over a link the library does not know (BLE, UART, a LoRa-class radio, a QUIC stream): the device writes
// frames into a byte pipe that delivers them in pieces of any size; the server feeds the pieces to wire::FrameParser
// and answers each frame with a reply that comes back the same way. One byte of the last frame is damaged on the way:
// its reply carries the error. The wire format is all the two ends share (docs/wire-format.md).
// Usage: custom_transport [frames = 4] [seed = 1]
#include <slimcodec/codec.hpp>
#include <slimcodec/wire/reply.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
using namespace slimcodec;

struct Pipe {  // the link: bytes in; out in pieces of 1..300 bytes, as a serial line or a radio hands them over
  std::vector<uint8_t> bytes;
  size_t at = 0;
  std::mt19937 rng;
  void write(const uint8_t* p, size_t n) { bytes.insert(bytes.end(), p, p + n); }
  size_t read(uint8_t* out) {
    const size_t n = std::min(size_t(rng() % 300 + 1), bytes.size() - at);
    std::copy_n(bytes.data() + at, n, out);
    return at += n, n;
  }
};

int fail(const char* side, const Error& e) { return std::fprintf(stderr, "%s: %s\n", side, e.what()), 1; }

int main(int argc, char** argv) {
  const int frames = std::max(1, argc > 1 ? std::atoi(argv[1]) : 4);
  const unsigned seed = argc > 2 ? unsigned(std::atoi(argv[2])) : 1u;
  std::mt19937 rng(seed);
  Pipe up{{}, 0, std::mt19937(seed + 1)}, down{{}, 0, std::mt19937(seed + 2)};
  const Shape shape{6, 24, 24};
  std::vector<float> latent(shape.size()), features(shape.size());
  std::vector<uint64_t> expected;  // the digest of what each frame decodes to, for checking the replies
  for (int f = 0; f < frames; ++f) {  // device: b = 1..4 bits, frame after frame
    for (float& v : latent) v = std::normal_distribution<float>()(rng);
    const EncodeParams p{1, uint8_t(f % 4 + 1), shape, quant::Bounds{-2.f, 2.f}, uint32_t(f), 1000u * f};
    std::vector<uint8_t> frame(max_frame_size(latent.size(), p.bits));
    auto n = encode_frame(latent.data(), p, frame.data(), frame.size());
    if (!n) return fail("device", n.error());
    if (!decode_frame(frame.data(), *n, features.data(), features.size())) return 1;
    expected.push_back(wire::digest_features(features.data(), features.size()));
    if (f == frames - 1) frame[*n / 2] ^= 0x10;  // damaged on the link
    up.write(frame.data(), *n);
  }
  wire::FrameParser parser;  // server: whatever the link delivers, in order
  uint8_t piece[300];
  size_t got = 0;
  while (!parser.failed() && (got = up.read(piece)) > 0) {
    for (size_t used = 0; used < got && !parser.failed();) {  // feed() stops after each frame: feed the rest
      auto took = parser.feed(piece + used, got - used);
      wire::Reply r;
      if (!took) {
        r.status = took.code();  // a stream cannot resynchronise: the server replies, then closes the link
      } else if (used += *took; !parser.has_frame()) {
        continue;
      } else if (auto n = dequantize_frame(parser.frame(), features.data(), features.size()); !n) {
        r.status = n.code();
      } else {
        r.frame_id = parser.frame().header.frame_id;
        r.digest = wire::digest_features(features.data(), *n);
      }
      const wire::ReplyBytes reply = wire::write_reply(r);
      down.write(reply.data(), reply.size());
    }
  }
  std::vector<uint8_t> in;  // device: replies, from the same kind of pieces
  int matched = 0, errors = 0;
  while (size_t got = down.read(piece)) {
    in.insert(in.end(), piece, piece + got);
    while (auto size = wire::peek_reply_size(in.data(), in.size())) {  // its 40-byte head says how long it is
      if (in.size() < *size) break;
      auto r = wire::parse_reply(in.data(), *size);
      if (!r) return fail("device", r.error());
      if (r->status != Errc::ok) std::printf("reply: %s\n", message(r->status));
      errors += r->status != Errc::ok;
      matched += r->status == Errc::ok && r->frame_id < expected.size() && r->digest == expected[r->frame_id];
      in.erase(in.begin(), in.begin() + std::ptrdiff_t(*size));
    }
  }
  std::printf("%d frames, %zu bytes: %d replies match, %d error\n", frames, up.bytes.size(), matched, errors);
  return matched == frames - 1 && errors == 1 && in.empty() ? 0 : 1;
}
