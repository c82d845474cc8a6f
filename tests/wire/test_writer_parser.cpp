// Writer and whole-buffer parser: round trips, writer errors, every header field rejected through its bytes.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include <slimcodec/codec.hpp>
#include "wire_test_util.hpp"

using namespace slimcodec;
using namespace slimcodec::wire;
using namespace slimcodec::wire::test;

TEST_CASE("write_frame -> parse_frame round trip over bits and odd shapes", "[wire][writer][parser]") {
  std::mt19937 rng(1);
  const unsigned shapes[][3] = {{1, 1, 1}, {1, 1, 127}, {1, 1, 128}, {1, 1, 129}, {3, 5, 7}, {6, 8, 8}, {2, 9, 11}};
  for (unsigned b = 1; b <= 8; ++b) {
    for (const auto& s : shapes) {
      FrameHeader h = make_header(s[0], s[1], s[2], b, 1 + b % 16);
      h.frame_id = rng();
      h.timestamp_us = random_u64(rng);
      h.lo = -1.5f;
      h.hi = 0.75f;
      const auto codes = random_codes(size_t(s[0]) * s[1] * s[2], b, rng);
      const auto frame = make_frame(h, codes);
      REQUIRE(frame.size() == 48 + raw_bitpack_size(codes.size(), b) + 4);
      auto v = parse_frame(frame.data(), frame.size());
      REQUIRE(v.ok());
      CHECK(same_header(v->header, h));
      CHECK(v->frame_size == frame.size());
      CHECK(v->payload == frame.data() + kHeaderSize);
      CHECK(v->payload_size == h.payload_size);
      std::vector<uint8_t> back(codes.size());
      ref::unpack_codes(v->payload, codes.size(), b, back.data());
      CHECK(back == codes);
    }
  }
}

TEST_CASE("seal_frame is the zero-copy twin of write_frame", "[wire][writer]") {
  std::mt19937 rng(2);
  FrameHeader h = make_header(6, 4, 4, 3, 2);
  h.frame_id = 99;
  const auto codes = random_codes(96, 3, rng);
  const auto copied = make_frame(h, codes);

  std::vector<uint8_t> buf(copied.size() + 10, 0xAA);
  ref::pack_codes(codes.data(), codes.size(), 3, buf.data() + kHeaderSize);  // packer writes in place
  FrameHeader unsized = h;
  unsized.payload_size = 0;  // filled in by the writer
  auto n = seal_frame(unsized, buf.data(), buf.size());
  REQUIRE(n.ok());
  REQUIRE(*n == copied.size());
  CHECK(std::equal(copied.begin(), copied.end(), buf.begin()));
  CHECK(buf[copied.size()] == 0xAA);  // nothing written past the frame

  // write_frame with the payload already in place (overlapping source and destination).
  std::vector<uint8_t> again(buf.begin(), buf.begin() + long(copied.size()));
  auto m = write_frame(h, again.data() + kHeaderSize, again.data(), again.size());
  REQUIRE(m.ok());
  CHECK(again == copied);
}

TEST_CASE("writer errors", "[wire][writer]") {
  const FrameHeader h = make_header(3, 5, 7, 3);
  std::vector<uint8_t> payload(h.payload_size, 0x5A), out(frame_size(h));
  CHECK(write_frame(h, payload.data(), out.data(), out.size()).ok());
  CHECK(write_frame(h, payload.data(), out.data(), out.size() - 1).code() == Errc::buffer_too_small);
  CHECK(write_frame(h, payload.data(), nullptr, 0).code() == Errc::buffer_too_small);
  CHECK(seal_frame(h, out.data(), out.size() - 1).code() == Errc::buffer_too_small);
  CHECK(write_frame(h, nullptr, out.data(), out.size()).code() == Errc::invalid_argument);

  FrameHeader bad = h;
  bad.payload_size += 16;
  CHECK(write_frame(bad, payload.data(), out.data(), out.size()).code() == Errc::length_mismatch);
  bad = h, bad.bits = 9;
  CHECK(write_frame(bad, payload.data(), out.data(), out.size()).code() == Errc::bits_out_of_range);
  bad = h, bad.lo = 3.0f;
  CHECK(seal_frame(bad, out.data(), out.size()).code() == Errc::bounds_invalid);
  // The writer refuses what its reader's limit would refuse, and honours a larger limit.
  CHECK(write_frame(h, payload.data(), out.data(), out.size(), ParserLimits{47}).code() ==
        Errc::length_too_large);
  const FrameHeader big = make_header(1024, 128, 256, 8);  // 32 MiB payload
  CHECK(seal_frame(big, out.data(), out.size()).code() == Errc::length_too_large);
  CHECK(seal_frame(big, out.data(), out.size(), ParserLimits{size_t{64} << 20}).code() == Errc::buffer_too_small);
  // An unsized header whose codec size does not fit 32 bits stays unsized and is refused.
  FrameHeader huge = make_header(1024, 4096, 4096, 8);
  huge.payload_size = 0;
  CHECK(seal_frame(huge, out.data(), out.size()).code() == Errc::length_mismatch);
}

TEST_CASE("parse_frame rejects each header field through its bytes", "[wire][parser]") {
  std::mt19937 rng(3);
  const FrameHeader h = make_header(3, 5, 7, 3, 2);
  const auto good = make_frame(h, random_codes(105, 3, rng));
  REQUIRE(parse_frame(good.data(), good.size()).ok());

  struct Case {
    size_t at;
    uint8_t value;
    bool fix_crc;
    Errc want;
  };
  const Case cases[] = {
      {0, 'X', true, Errc::bad_magic},            {3, 'c', true, Errc::bad_magic},
      {4, 0, true, Errc::version_unsupported},    {4, 2, true, Errc::version_unsupported},
      {5, 47, true, Errc::header_size_invalid},   {5, 64, true, Errc::header_size_invalid},
      {28, 1, false, Errc::header_crc_mismatch},  {44, 0, false, Errc::header_crc_mismatch},
      {6, 0x04, true, Errc::reserved_nonzero},    {6, 0x80, true, Errc::reserved_nonzero},
      {6, 0x03, true, Errc::reserved_nonzero},    {10, 1, true, Errc::reserved_nonzero},
      {11, 0x80, true, Errc::reserved_nonzero},   {18, 1, true, Errc::reserved_nonzero},
      {19, 1, true, Errc::reserved_nonzero},      {7, 2, true, Errc::codec_unsupported},
      {7, 255, true, Errc::codec_unsupported},    {8, 0, true, Errc::ensemble_out_of_range},
      {8, 17, true, Errc::ensemble_out_of_range}, {9, 0, true, Errc::bits_out_of_range},
      {9, 9, true, Errc::bits_out_of_range},      {12, 0, true, Errc::shape_out_of_range},
      {13, 4, true, Errc::shape_out_of_range},    {14, 0, true, Errc::shape_out_of_range},
      {17, 0x10, true, Errc::shape_out_of_range}, {16, 0, true, Errc::shape_out_of_range},
      {23, 0x7F, true, Errc::bounds_invalid},     {27, 0xFF, true, Errc::bounds_invalid},
      {27, 0x7F, true, Errc::bounds_invalid},     {27, 0xBF, true, Errc::bounds_invalid},  // hi = -1 = lo
      {40, 49, true, Errc::length_mismatch},      {43, 0x01, true, Errc::length_mismatch},
      {47, 0, false, Errc::header_crc_mismatch},  {60, 0x01, false, Errc::crc_mismatch},
      {good.size() - 1, 0, false, Errc::crc_mismatch},
  };
  for (const auto& c : cases) {
    auto f = good;
    if (c.fix_crc) {
      patch(f, c.at, c.value);
    } else {
      f[c.at] = good[c.at] == c.value ? uint8_t(c.value ^ 1) : c.value;  // stale CRC: must differ
    }
    INFO("byte " << c.at << " = " << int(c.value));
    const auto r = parse_frame(f.data(), f.size());
    CHECK(r.code() == c.want);
    FrameParser p;
    auto fed = p.feed(f.data(), f.size());
    CHECK(fed.code() == r.code());
    CHECK(p.finish().code() == r.code());
  }
}

TEST_CASE("parse_frame: every single-bit flip of a frame is caught by the right check", "[wire][parser]") {
  std::mt19937 rng(4);
  const auto good = make_frame(make_header(2, 3, 5, 4), random_codes(30, 4, rng));
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto f = good;
      f[byte] ^= uint8_t(1u << bit);
      Errc want = Errc::header_crc_mismatch;
      if (byte < 4) want = Errc::bad_magic;
      else if (byte == 4) want = Errc::version_unsupported;
      else if (byte == 5) want = Errc::header_size_invalid;
      else if (byte >= kHeaderSize) want = Errc::crc_mismatch;
      INFO("byte " << byte << " bit " << bit);
      CHECK(parse_frame(f.data(), f.size()).code() == want);
    }
  }
}

TEST_CASE("parse_frame: truncation, trailing bytes and back-to-back frames", "[wire][parser]") {
  std::mt19937 rng(5);
  const auto a = make_frame(make_header(1, 1, 3, 1), random_codes(3, 1, rng));
  const auto b = make_frame(make_header(2, 9, 11, 4, 4), random_codes(198, 4, rng));
  for (size_t n = 0; n < b.size(); ++n) CHECK(parse_frame(b.data(), n).code() == Errc::truncated);
  CHECK(parse_frame(nullptr, 0).code() == Errc::truncated);

  std::vector<uint8_t> stream(a);
  stream.insert(stream.end(), b.begin(), b.end());
  stream.insert(stream.end(), a.begin(), a.end());
  size_t at = 0, frames = 0;
  while (at < stream.size()) {
    auto v = parse_frame(stream.data() + at, stream.size() - at);
    REQUIRE(v.ok());
    at += v->frame_size;
    ++frames;
  }
  CHECK(frames == 3);
  CHECK(at == stream.size());
  // Trailing bytes are left alone and do not change the first frame's result; frame_size says where the
  // next frame starts, and there the extra bytes are judged as a frame of their own.
  std::vector<uint8_t> tail(a);
  tail.insert(tail.end(), 5, 0);
  auto first = parse_frame(tail.data(), tail.size());
  REQUIRE(first.ok());
  CHECK(first->frame_size == a.size());
  CHECK(parse_frame(tail.data() + first->frame_size, 5).code() == Errc::truncated);
  tail.insert(tail.end(), 43, 0);
  CHECK(parse_frame(tail.data() + first->frame_size, 48).code() == Errc::bad_magic);
  // A smaller limit rejects the second frame by its header alone.
  auto v = parse_frame(stream.data() + a.size(), 48, ParserLimits{64});
  CHECK(v.code() == Errc::length_too_large);
}

TEST_CASE("encode_frame: a dimension the header's 16 bits cannot hold is shape_out_of_range, never wrapped",
          "[wire][writer]") {
  std::vector<float> x(6 * 4 * 4, 0.25f);
  std::vector<uint8_t> out(max_frame_size(x.size(), 4));
  EncodeParams p;
  p.bits = 4;
  p.shape = {6, 4, 4};
  REQUIRE(encode_frame(x.data(), p, out.data(), out.size()));
  // 65,536 + 6 channels would wrap to 6 in 16 bits and pass validation with the wrong header.
  for (const Shape bad : {Shape{65536 + 6, 4, 4}, Shape{6, 65536 + 4, 4}, Shape{6, 4, -4}, Shape{0, 4, 4}}) {
    p.shape = bad;
    auto r = encode_frame(x.data(), p, out.data(), out.size());
    REQUIRE_FALSE(r);
    CHECK(r.code() == Errc::shape_out_of_range);
  }
}
