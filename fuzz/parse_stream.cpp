// Fuzz target: the same bytes through FrameParser in pseudo-random chunks (zero-length ones included, never
// two in a row), checked against parse_frame at every frame boundary. Forward-progress rule: a non-empty
// feed to a parser that has not failed consumes at least one byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include <slimcodec/wire/wire.hpp>

using namespace slimcodec;
using namespace slimcodec::wire;
using fuzz::require;

namespace {

// Chunk sizes come from the input's own CRC, so a saved input replays the same chunking.
struct ChunkSizes {
  uint32_t state;
  bool last_was_zero = false;
  size_t next(size_t left) {
    state ^= state << 13, state ^= state >> 17, state ^= state << 5;
    size_t n = (state >> 8) % 4 == 0 ? 0 : 1 + (state >> 12) % ((state & 0x80u) ? 8 : 300);
    if (n == 0 && last_was_zero) n = 1;
    last_was_zero = n == 0;
    return std::min(n, left);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A modest limit keeps allocations small and makes length_too_large reachable.
  const ParserLimits limits{size_t{1} << 14};
  FrameParser parser(limits);
  ChunkSizes chunks{crc32c(data, size) | 1u};
  size_t at = 0, frame_start = 0;
  while (at < size) {
    const size_t n = chunks.next(size - at);
    size_t done = 0;
    do {
      const auto fed = parser.feed(data + at + done, n - done);
      if (!fed) {
        const auto whole = parse_frame(data + frame_start, size - frame_start, limits);
        require(whole.code() == fed.code(), "stream and whole-buffer parsers disagree on the error");
        return 0;
      }
      require(*fed <= n - done, "feed consumed more than it was given");
      require(n - done == 0 || *fed > 0, "non-empty feed made no progress");
      done += *fed;
      if (parser.has_frame()) {
        const FrameView& v = parser.frame();
        const auto whole = parse_frame(data + frame_start, size - frame_start, limits);
        require(whole.ok(), "stream parser accepted a frame parse_frame rejects");
        require(v.frame_size == whole->frame_size && at + done - frame_start == v.frame_size,
                "frame sizes disagree");
        require(std::equal(v.payload, v.payload + v.payload_size, whole->payload), "payloads disagree");
        require(parser.need() == 0, "need() is not 0 on a complete frame");
        frame_start += v.frame_size;
      } else {
        require(parser.need() > 0, "need() is 0 inside a frame");
      }
    } while (done < n);
    at += n;
  }
  const auto end = parser.finish();
  if (frame_start < size) {
    require(end.code() == Errc::truncated, "input ended inside a frame but finish() does not say so");
    require(parse_frame(data + frame_start, size - frame_start, limits).code() == Errc::truncated,
            "parse_frame does not report the truncation");
  } else {
    require(end.ok(), "finish() fails at a frame boundary");
  }
  return 0;
}
