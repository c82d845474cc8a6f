// FrameParser: any chunking gives the same frames, need() is exact, errors are sticky, memory is bounded.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "wire_test_util.hpp"

using namespace slimcodec;
using namespace slimcodec::wire;
using namespace slimcodec::wire::test;

namespace {

struct Got {
  FrameHeader header;
  std::vector<uint8_t> payload;
  size_t frame_size;
};

struct Outcome {
  std::vector<Got> frames;
  Errc error = Errc::ok;  // first error from feed, else finish()
};

// Feeds data in chunks whose sizes come from next_chunk (0 allowed), handling frames as they complete.
Outcome run(FrameParser& p, const std::vector<uint8_t>& data, const std::function<size_t()>& next_chunk) {
  Outcome out;
  size_t at = 0;
  while (at < data.size()) {
    const size_t chunk = std::min(next_chunk(), data.size() - at);
    size_t done = 0;
    do {  // one chunk may hold several frames: feed the rest after each one
      auto r = p.feed(data.data() + at + done, chunk - done);
      if (!r) {
        out.error = r.code();
        return out;
      }
      REQUIRE(*r <= chunk - done);
      if (chunk - done > 0) REQUIRE(*r > 0);  // forward progress
      done += *r;
      if (p.has_frame()) {
        REQUIRE(p.need() == 0);
        const auto& v = p.frame();
        out.frames.push_back({v.header, std::vector<uint8_t>(v.payload, v.payload + v.payload_size), v.frame_size});
      }
    } while (done < chunk);
    at += chunk;
  }
  out.error = p.finish().code();
  return out;
}

struct Stream {
  std::vector<uint8_t> bytes;
  std::vector<FrameHeader> headers;
  std::vector<std::vector<uint8_t>> payloads;
};

Stream make_stream(std::mt19937& rng, int frames) {
  Stream s;
  for (int i = 0; i < frames; ++i) {
    FrameHeader h = random_small_header(rng);
    const auto codes = random_codes(size_t(h.channels) * h.height * h.width, h.bits, rng);
    const auto f = make_frame(h, codes);
    s.bytes.insert(s.bytes.end(), f.begin(), f.end());
    s.headers.push_back(h);
    s.payloads.push_back(pack(codes, h.bits));
  }
  return s;
}

void check_same(const Outcome& o, const Stream& s) {
  REQUIRE(o.error == Errc::ok);
  REQUIRE(o.frames.size() == s.headers.size());
  for (size_t i = 0; i < o.frames.size(); ++i) {
    CHECK(same_header(o.frames[i].header, s.headers[i]));
    CHECK(o.frames[i].payload == s.payloads[i]);
    CHECK(o.frames[i].frame_size == frame_size(s.headers[i]));
  }
}

}  // namespace

TEST_CASE("FrameParser: every split point of a stream of several frames", "[wire][stream]") {
  std::mt19937 rng(21);
  const Stream s = make_stream(rng, 4);
  FrameParser p;  // reused across runs through reset(): buffer reuse is part of the test
  for (size_t cut = 0; cut <= s.bytes.size(); ++cut) {
    p.reset();
    int call = 0;
    const size_t sizes[] = {cut, s.bytes.size() - cut};
    auto o = run(p, s.bytes, [&] { return call < 2 ? sizes[call++] : s.bytes.size(); });
    INFO("cut at " << cut);
    check_same(o, s);
  }
}

TEST_CASE("FrameParser: random chunking with zero-length feeds", "[wire][stream]") {
  std::mt19937 rng(22);
  for (int trial = 0; trial < 200; ++trial) {
    const Stream s = make_stream(rng, 1 + int(rng() % 5));
    const size_t max_chunk = size_t{1} << (rng() % 11);
    FrameParser p;
    auto o = run(p, s.bytes, [&] { return rng() % 4 == 0 ? size_t{0} : 1 + rng() % max_chunk; });
    check_same(o, s);
  }
  // Byte by byte, with a zero-length feed before every byte.
  const Stream s = make_stream(rng, 3);
  FrameParser p;
  bool zero = true;
  auto o = run(p, s.bytes, [&] { return (zero = !zero) ? size_t{1} : size_t{0}; });
  check_same(o, s);
}

TEST_CASE("FrameParser: need() counts down through header, payload and trailer", "[wire][stream]") {
  std::mt19937 rng(23);
  const FrameHeader h = make_header(3, 5, 7, 3);
  const auto f = make_frame(h, random_codes(105, 3, rng));
  FrameParser p;
  CHECK(p.need() == 48);
  REQUIRE(p.feed(f.data(), 0).ok());
  CHECK(p.need() == 48);
  for (size_t i = 0; i < f.size(); ++i) {
    const size_t want = i < 48 ? 48 - i : f.size() - i;
    INFO("after " << i << " bytes");
    REQUIRE(p.need() == want);
    REQUIRE(!p.has_frame());
    auto r = p.feed(f.data() + i, 1);
    REQUIRE(r.ok());
    REQUIRE(*r == 1);
  }
  CHECK(p.has_frame());
  CHECK(p.need() == 0);
  CHECK(p.finish().ok());
  // The next feed, even an empty one, starts the next frame and ends the view.
  REQUIRE(p.feed(nullptr, 0).ok());
  CHECK(!p.has_frame());
  CHECK(p.need() == 48);
  // need() lets a transport read exactly one frame: feed exactly need() bytes each time.
  std::vector<uint8_t> two(f);
  two.insert(two.end(), f.begin(), f.end());
  size_t at = 0;
  int frames = 0;
  while (at < two.size()) {
    const size_t n = p.need();
    auto r = p.feed(two.data() + at, n);
    REQUIRE(r.ok());
    REQUIRE(*r == n);
    at += n;
    if (p.has_frame()) ++frames;
  }
  CHECK(frames == 2);
}

TEST_CASE("FrameParser: a chunk holding several frames is consumed one frame at a time", "[wire][stream]") {
  std::mt19937 rng(24);
  const Stream s = make_stream(rng, 3);
  FrameParser p;
  size_t at = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto r = p.feed(s.bytes.data() + at, s.bytes.size() - at);
    REQUIRE(r.ok());
    CHECK(*r == frame_size(s.headers[i]));
    REQUIRE(p.has_frame());
    CHECK(p.frame().frame_size == *r);
    at += *r;
  }
  CHECK(at == s.bytes.size());
}

TEST_CASE("FrameParser: errors are sticky until reset", "[wire][stream]") {
  std::mt19937 rng(25);
  const Stream s = make_stream(rng, 2);
  auto bad = s.bytes;
  bad[0] = 'X';
  FrameParser p;
  auto r = p.feed(bad.data(), 47);
  REQUIRE(r.ok());  // the header is judged only once all 48 bytes are in
  CHECK(*r == 47);
  r = p.feed(bad.data() + 47, bad.size() - 47);
  CHECK(r.code() == Errc::bad_magic);
  CHECK(p.failed());
  CHECK(p.need() == 0);
  CHECK(p.feed(s.bytes.data(), s.bytes.size()).code() == Errc::bad_magic);
  CHECK(p.feed(nullptr, 0).code() == Errc::bad_magic);
  CHECK(p.finish().code() == Errc::bad_magic);
  CHECK(p.error().code == Errc::bad_magic);
  p.reset();
  CHECK(!p.failed());
  CHECK(p.need() == 48);
  auto o = run(p, s.bytes, [] { return size_t{7}; });
  check_same(o, s);
  // A corrupt payload surfaces only when its frame completes; the frame before it is delivered.
  auto corrupt = s.bytes;
  corrupt.back() ^= 1;
  p.reset();
  o = run(p, corrupt, [] { return size_t{5}; });
  CHECK(o.error == Errc::crc_mismatch);
  CHECK(o.frames.size() == 1);
}

TEST_CASE("FrameParser: bad lengths are rejected at the header, memory stays bounded", "[wire][stream]") {
  // A consistent header announcing 32 MiB: rejected after exactly 48 bytes, without allocating.
  const FrameHeader big = make_header(1024, 128, 256, 8);
  uint8_t hdr[kHeaderSize];
  encode_header(big, hdr);
  FrameParser p;
  auto r = p.feed(hdr, 47);
  REQUIRE(r.ok());
  CHECK(p.need() == 1);
  CHECK(p.feed(hdr + 47, 1).code() == Errc::length_too_large);
  CHECK(p.buffer_capacity() == 0);

  // The same header under a larger limit is accepted and waits for the payload.
  FrameParser roomy(ParserLimits{size_t{40} << 20});
  REQUIRE(roomy.feed(hdr, kHeaderSize).ok());
  CHECK(roomy.need() == big.payload_size + kTrailerSize);

  // The buffer grows to the largest frame seen and is reused, never above limit + trailer.
  std::mt19937 rng(26);
  const auto small = make_frame(make_header(1, 1, 3, 1), random_codes(3, 1, rng));
  const auto large = make_frame(make_header(4, 16, 16, 8), random_codes(1024, 8, rng));
  FrameParser q(ParserLimits{1024});
  for (const auto* f : {&small, &large, &small, &large}) {
    auto res = q.feed(f->data(), f->size());
    REQUIRE(res.ok());
    REQUIRE(q.has_frame());
  }
  CHECK(q.buffer_capacity() == 1024 + kTrailerSize);
  const auto too_large = make_frame(make_header(1, 1, 1025, 8), random_codes(1025, 8, rng));
  CHECK(q.feed(too_large.data(), too_large.size()).code() == Errc::length_too_large);
  CHECK(q.buffer_capacity() == 1024 + kTrailerSize);
}

TEST_CASE("FrameParser: finish() tells a clean end from a truncated one", "[wire][stream]") {
  std::mt19937 rng(27);
  const auto f = make_frame(make_header(2, 2, 2, 2), random_codes(8, 2, rng));
  FrameParser p;
  CHECK(p.finish().ok());  // empty stream: zero frames
  for (size_t n : {size_t{1}, size_t{47}, size_t{48}, f.size() - 1}) {
    p.reset();
    REQUIRE(p.feed(f.data(), n).ok());
    CHECK(p.finish().code() == Errc::truncated);
  }
  p.reset();
  REQUIRE(p.feed(f.data(), f.size()).ok());
  CHECK(p.finish().ok());
}

TEST_CASE("FrameParser: payload received in place (body_space, commit) gives what feed gives", "[wire][stream]") {
  std::mt19937 rng(31);
  const auto f = make_frame(make_header(8, 64, 64, 8), random_codes(8 * 64 * 64, 8, rng));  // 32 KiB payload
  FrameParser p;
  CHECK(p.body_space(100).code() == Errc::invalid_argument);  // no header yet
  REQUIRE(p.feed(f.data(), kHeaderSize + 10).ok());
  REQUIRE(p.in_body());
  size_t pos = kHeaderSize + 10;
  while (pos < f.size()) {
    auto space = p.body_space(1 + rng() % 5000);
    REQUIRE(space.ok());
    REQUIRE(space->size > 0);
    REQUIRE(space->size <= p.need());
    REQUIRE(p.buffer_capacity() <= 2 * (pos - kHeaderSize) + (size_t(64) << 10));  // grown with what arrived
    const size_t k = std::min(space->size, 1 + size_t(rng() % space->size));
    std::memcpy(space->data, f.data() + pos, k);
    REQUIRE(p.commit(k).ok());
    pos += k;
  }
  REQUIRE(p.has_frame());
  CHECK(p.frame().payload_size == 8 * 64 * 64);
  CHECK(std::equal(p.frame().payload, p.frame().payload + p.frame().payload_size, f.begin() + kHeaderSize));
  CHECK(p.commit(1).code() == Errc::invalid_argument);  // no payload awaited

  // More than the space given is refused; a wrong trailer is crc_mismatch, as with feed.
  FrameParser q;
  REQUIRE(q.feed(f.data(), kHeaderSize).ok());
  auto space = q.body_space(f.size());
  REQUIRE(space.ok());
  CHECK(q.commit(space->size + 1).code() == Errc::invalid_argument);
  std::vector<uint8_t> bad(f.begin() + kHeaderSize, f.end());
  bad.back() ^= 1;
  size_t at = 0;
  Result<void> last;
  while (at < bad.size()) {
    auto s = q.body_space(bad.size());
    REQUIRE(s.ok());
    std::memcpy(s->data, bad.data() + at, s->size);
    at += s->size;
    last = q.commit(s->size);
  }
  CHECK(last.code() == Errc::crc_mismatch);
  CHECK(q.failed());
  CHECK(q.body_space(1).code() == Errc::crc_mismatch);
}

TEST_CASE("FrameParser: a discarded payload is checked, not kept, and the stream carries on", "[wire][stream]") {
  std::mt19937 rng(32);
  const auto big = make_frame(make_header(8, 128, 128, 8), random_codes(8 * 128 * 128, 8, rng));  // 128 KiB
  const auto next = make_frame(make_header(2, 2, 2, 2), random_codes(8, 2, rng));
  std::vector<uint8_t> stream(big);
  stream.insert(stream.end(), next.begin(), next.end());
  for (size_t chunk : {size_t(1), size_t(7), size_t(1000), stream.size()}) {
    FrameParser p;
    size_t pos = 0, frames = 0;
    while (pos < stream.size()) {
      auto n = p.feed(stream.data() + pos, std::min(chunk, stream.size() - pos));
      REQUIRE(n.ok());
      pos += *n;
      if (p.in_body() && p.header().channels == 8) {
        p.discard_body();
        CHECK(p.body_space(100).code() == Errc::invalid_argument);
      }
      if (!p.has_frame()) continue;
      ++frames;
      if (frames == 1 && chunk < big.size()) {
        CHECK(p.discarded());
        CHECK(p.frame().payload == nullptr);
        CHECK(p.frame().header.channels == 8);
        CHECK(p.take_frame_buffer().data == nullptr);  // nothing to hand over
      } else if (frames == 1) {  // arrived whole in one feed: there was no moment to discard it
        CHECK_FALSE(p.discarded());
        CHECK(std::equal(p.frame().payload, p.frame().payload + 8 * 128 * 128, big.begin() + kHeaderSize));
      } else {
        CHECK_FALSE(p.discarded());
        CHECK(std::equal(p.frame().payload, p.frame().payload + 2, next.begin() + kHeaderSize));
      }
    }
    CHECK(frames == 2);
    if (chunk < big.size()) CHECK(p.buffer_capacity() <= (size_t(64) << 10));  // never grown to the 128 KiB payload
  }

  // A wrong CRC in a discarded frame fails as it would in a kept one.
  for (size_t flip : {kHeaderSize + 5, big.size() - 1}) {
    auto bad = big;
    bad[flip] ^= 0x10;
    FrameParser p;
    REQUIRE(p.feed(bad.data(), kHeaderSize + 3).ok());
    p.discard_body();
    CHECK(p.feed(bad.data() + kHeaderSize + 3, bad.size() - kHeaderSize - 3).code() == Errc::crc_mismatch);
  }
}
