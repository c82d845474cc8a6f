// 100,000 seeded mutations and truncations of valid frames: never a crash, and every input is either rejected
// or parsed into a frame that passes validate(); the stream parser always agrees with parse_frame.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "wire_test_util.hpp"

using namespace slimcodec;
using namespace slimcodec::wire;
using namespace slimcodec::wire::test;

namespace {

// Mutations that keep the CRCs right half of the time, so the field checks behind them get exercised too.
void mutate(std::vector<uint8_t>& f, std::mt19937& rng) {
  const int edits = 1 + int(rng() % 4);
  for (int e = 0; e < edits && !f.empty(); ++e) {
    // Draws in separate statements so the sequence does not depend on evaluation order.
    const uint32_t kind = rng() % 6, where = rng(), what = rng();
    switch (kind) {
      case 0: f[where % f.size()] ^= uint8_t(1u << (what % 8)); break;
      case 1: f[where % f.size()] = uint8_t(what); break;
      case 2: f[where % std::min<size_t>(f.size(), kHeaderSize)] = uint8_t(what % 20); break;  // small values
      case 3: f.resize(where % (f.size() + 1)); break;                                        // truncate
      case 4: f.insert(f.begin() + long(where % (f.size() + 1)), uint8_t(what)); break;
      case 5: f.push_back(uint8_t(what)); break;                                              // trailing junk
    }
  }
  if (f.size() >= kHeaderSize && rng() % 2) store_le32(f.data() + offset::kHeaderCrc, crc32c(f.data(), 44));
  if (f.size() >= kHeaderSize && rng() % 2) {
    const uint64_t body = kHeaderSize + uint64_t{load_le32(f.data() + offset::kPayloadSize)};
    if (body + kTrailerSize <= f.size()) store_le32(f.data() + body, crc32c(f.data(), size_t(body)));
  }
}

}  // namespace

TEST_CASE("100,000 mutated and truncated frames: rejected or valid, never a crash", "[wire][mutation]") {
  std::mt19937 rng(20240611);
  std::vector<std::vector<uint8_t>> bases;
  for (int i = 0; i < 64; ++i) {
    const FrameHeader h = random_small_header(rng);
    bases.push_back(make_frame(h, random_codes(size_t(h.channels) * h.height * h.width, h.bits, rng)));
  }
  size_t accepted = 0, by_error[256] = {};
  FrameParser stream(ParserLimits{4096});
  for (int iter = 0; iter < 100000; ++iter) {
    std::vector<uint8_t> f = bases[rng() % bases.size()];
    mutate(f, rng);
    const ParserLimits limits{4096};
    const auto r = parse_frame(f.data(), f.size(), limits);
    if (r.ok()) {
      ++accepted;
      REQUIRE(validate(r->header, limits).ok());
      REQUIRE(r->frame_size == frame_size(r->header));
      REQUIRE(r->frame_size <= f.size());
      REQUIRE(r->payload == f.data() + kHeaderSize);
      REQUIRE(r->payload_size == r->header.payload_size);
      // Accepted headers are canonical: re-encoding gives the same 48 bytes.
      uint8_t again[kHeaderSize];
      encode_header(r->header, again);
      REQUIRE(std::equal(again, again + kHeaderSize, f.begin()));
    } else {
      ++by_error[size_t(r.code())];
      REQUIRE(r.code() != Errc::ok);
    }

    // Same bytes through the stream parser, in random chunks: same first outcome.
    stream.reset();
    size_t at = 0;
    Errc stream_error = Errc::ok;
    bool got_frame = false;
    while (at < f.size() && !got_frame) {
      const size_t chunk = std::min<size_t>(rng() % 64, f.size() - at);
      auto fed = stream.feed(f.data() + at, chunk);
      if (!fed) {
        stream_error = fed.code();
        break;
      }
      REQUIRE(*fed <= chunk);
      at += *fed;
      got_frame = stream.has_frame();
    }
    if (!got_frame && stream_error == Errc::ok) stream_error = stream.finish().code();
    if (r.ok()) {
      REQUIRE(got_frame);
      REQUIRE(at == r->frame_size);
      REQUIRE(same_header(stream.frame().header, r->header));
    } else {
      REQUIRE(!got_frame);
      // An empty input is zero frames to a stream, but parse_frame asked for one.
      REQUIRE(stream_error == (f.empty() ? Errc::ok : r.code()));
    }
  }
  // The mutations reach every check (else this test would prove little).
  INFO("accepted " << accepted);
  CHECK(accepted > 1000);
  for (Errc e : {Errc::truncated, Errc::bad_magic, Errc::version_unsupported, Errc::header_size_invalid,
                 Errc::header_crc_mismatch, Errc::reserved_nonzero, Errc::codec_unsupported,
                 Errc::ensemble_out_of_range, Errc::bits_out_of_range, Errc::shape_out_of_range,
                 Errc::bounds_invalid, Errc::length_mismatch, Errc::crc_mismatch}) {
    INFO("error " << int(e));
    CHECK(by_error[size_t(e)] > 0);
  }
}
