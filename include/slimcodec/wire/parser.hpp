// Frame readers: parse_frame for a whole buffer (zero-copy) and FrameParser for bytes arriving in any chunks.
// Both apply the same checks in the same order, so the same bytes give the same result (docs/wire-format.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "slimcodec/common/result.hpp"
#include "slimcodec/common/byte_order.hpp"
#include "slimcodec/common/crc32c.hpp"
#include "slimcodec/wire/frame.hpp"
#include "slimcodec/wire/header_codec.hpp"

namespace slimcodec::wire {

// A checked frame. payload points into the parsed buffer (parse_frame) or into the parser (FrameParser).
struct FrameView {
  FrameHeader header;
  const uint8_t* payload = nullptr;
  size_t payload_size = 0;
  size_t frame_size = 0;  // bytes the frame occupies; the next frame of a stream starts there
};

// Parses the frame at the start of buf[0, n). Bytes after the frame are left alone (see frame_size).
// Fewer than kHeaderSize bytes, or a valid header whose frame does not fit, give Errc::truncated.
inline Result<FrameView> parse_frame(const uint8_t* buf, size_t n, const ParserLimits& limits = {}) noexcept {
  if (n < kHeaderSize || buf == nullptr) return Errc::truncated;
  auto h = decode_header(buf, limits);
  if (!h) return h.error();
  const size_t size = frame_size(*h);
  if (n < size) return Errc::truncated;
  const size_t body = kHeaderSize + h->payload_size;
  if (crc32c(buf, body) != load_le32(buf + body)) return Errc::crc_mismatch;
  return FrameView{*h, buf + kHeaderSize, h->payload_size, size};
}

// A buffer a FrameParser reads payloads into: payload_size bytes, then the 4-byte trailer. Handed out with the
// frame it holds (FrameParser::take_frame_buffer), so a server decodes from the bytes the parser received.
struct FrameBuffer {
  std::unique_ptr<uint8_t[]> data;
  size_t capacity = 0;
};

// Incremental reader for stream transports. feed() takes any chunking (zero-length too), copies what it
// consumes, checks the header as soon as its 48 bytes are in, and stops right after a complete frame.
// Memory: one buffer of at most max_payload_size + 4 bytes, reused across frames. It grows as payload bytes
// arrive (to what has arrived, doubling, from 64 KiB), not to what the header announces, so a header alone costs
// nothing; a rejected header never allocates. A failed allocation is Errc::out_of_memory. After an error every
// feed returns that error until reset(): a stream cannot resynchronise.
class FrameParser {
 public:
  explicit FrameParser(const ParserLimits& limits = {}) noexcept : limits_(limits) {}

  // Consumes up to n bytes and returns how many it took: all of them, or fewer when a frame completed
  // (then has_frame() is true; feed the rest afterwards). Never reads past data + n.
  Result<size_t> feed(const uint8_t* data, size_t n) noexcept {
    if (state_ == State::failed) return error_;
    if (state_ == State::complete) start_next_frame();
    if (n == 0) return size_t{0};
    if (data == nullptr) return Error{Errc::invalid_argument, "null data with nonzero length"};
    size_t used = 0;
    if (state_ == State::header) {
      used = take(header_, kHeaderSize, data, n);
      if (have_ < kHeaderSize) return used;
      auto h = decode_header(header_, limits_);
      if (!h) return fail(h.error());
      view_.header = *h;
      state_ = State::body;
      have_ = 0;
      crc_ = crc32c(header_, kHeaderSize);
      crc_covered_ = 0;
    }
    const size_t body = body_size();
    const size_t arriving = body - have_ < n - used ? body - have_ : n - used;
    if (discard_) {
      used += skip(data + used, arriving);
    } else {
      if (!reserve(have_ + arriving, body)) return fail(Error{Errc::out_of_memory, "cannot allocate the frame buffer"});
      used += take(buffer_.get(), body, data + used, n - used);
    }
    if (auto done = end_of_body(); !done) return done.error();
    return used;
  }

  // While in_body(), before the trailer: the rest of this frame's payload is checked (CRC) but not kept, for a frame
  // the caller will refuse anyway (one its memory could never hold): the buffer stops growing and nothing more is
  // copied. The frame then completes as usual, with discarded() true and no payload (frame().payload is null), or
  // fails crc_mismatch as a kept frame would. body_space() is not available for it; feed() takes its bytes.
  void discard_body() noexcept {
    if (state_ == State::body && have_ <= view_.header.payload_size) discard_ = true;
  }
  bool discarded() const noexcept { return discard_; }  // the frame in progress, or the one just completed
  // The current frame's header, once its 48 bytes are in (in_body() or has_frame()).
  const FrameHeader& header() const noexcept { return view_.header; }

  // Receiving payload bytes in place (no copy through the caller's buffer). While in_body(), body_space(max) is
  // where the next bytes go: at most `max`, at most need(), and the buffer grows as feed() would grow it (doubling
  // when full), so room is never reserved for bytes not yet on their way. Write k of them there, then commit(k):
  // the same checks and result as feed() of those k bytes (a frame may complete).
  struct Space {
    uint8_t* data = nullptr;
    size_t size = 0;
  };
  bool in_body() const noexcept { return state_ == State::body; }
  Result<Space> body_space(size_t max) noexcept {
    if (state_ == State::failed) return error_;
    if (state_ != State::body || discard_)
      return Error{Errc::invalid_argument, "body_space outside a frame's payload, or for a discarded one"};
    const size_t body = body_size();
    if (have_ == capacity_ && !reserve(have_ + 1, body))
      return fail(Error{Errc::out_of_memory, "cannot allocate the frame buffer"});
    size_t room = (capacity_ < body ? capacity_ : body) - have_;
    if (room > max) room = max;
    return Space{buffer_.get() + have_, room};
  }
  Result<void> commit(size_t n) noexcept {
    if (state_ != State::body || discard_ || n > capacity_ - have_ || n > body_size() - have_)
      return Error{Errc::invalid_argument, "commit of more bytes than body_space gave"};
    have_ += n;
    return end_of_body();
  }

  // True after the feed that completed a frame, until the next feed or reset.
  bool has_frame() const noexcept { return state_ == State::complete; }
  // The completed frame; valid while has_frame() is true (the payload lives in this parser).
  const FrameView& frame() const noexcept { return view_; }

  // Bytes the current frame still needs: 48 before any byte of a frame, then what is missing of the
  // header, then of payload and trailer. 0 when a frame is complete or after an error.
  size_t need() const noexcept {
    switch (state_) {
      case State::header: return kHeaderSize - have_;
      case State::body: return size_t{view_.header.payload_size} + kTrailerSize - have_;
      default: return 0;
    }
  }

  // Call at the end of the stream: Errc::truncated if it ended inside a frame, the stored error if any.
  Result<void> finish() const noexcept {
    if (state_ == State::failed) return error_;
    if ((state_ == State::header && have_ > 0) || state_ == State::body) return Errc::truncated;
    return {};
  }

  bool failed() const noexcept { return state_ == State::failed; }
  const Error& error() const noexcept { return error_; }
  size_t buffer_capacity() const noexcept { return capacity_; }
  const ParserLimits& limits() const noexcept { return limits_; }

  // While has_frame(): hands the completed frame's buffer to the caller (frame().payload points into it, at its
  // start) and takes `spare` (empty, or a buffer an earlier call handed out, now free) for the next frames. The
  // frame is consumed: has_frame() is false afterwards. Without a frame, or for a discarded one (it has no buffer),
  // returns `spare` back and changes nothing.
  FrameBuffer take_frame_buffer(FrameBuffer spare = {}) noexcept {
    if (state_ != State::complete || discard_) return spare;
    FrameBuffer out{std::move(buffer_), capacity_};
    buffer_ = std::move(spare.data);
    capacity_ = buffer_ ? spare.capacity : 0;
    start_next_frame();
    return out;
  }

  // Back to the start of a frame (e.g. for a new connection). Keeps the buffer for reuse.
  void reset() noexcept {
    start_next_frame();
    error_ = Error{};
  }

 private:
  enum class State : uint8_t { header, body, complete, failed };

  void start_next_frame() noexcept {
    state_ = State::header;
    have_ = 0;
    discard_ = false;
    view_ = FrameView{};
  }

  Error fail(Error e) noexcept {
    state_ = State::failed;
    error_ = e;
    view_ = FrameView{};
    return e;
  }

  size_t body_size() const noexcept { return size_t{view_.header.payload_size} + kTrailerSize; }

  // Once the payload and trailer are in: checks the CRC and completes the frame.
  // The CRC runs over payload bytes as they arrive (still in cache, and no pause over a whole large payload at
  // the end).
  Result<void> end_of_body() noexcept {
    const size_t payload = view_.header.payload_size;
    if (!discard_) {  // skip() runs the CRC itself
      const size_t covered = have_ < payload ? have_ : payload;
      crc_ = crc32c(buffer_.get() + crc_covered_, covered - crc_covered_, crc_);
      crc_covered_ = covered;
    }
    if (have_ < body_size()) return {};
    if (crc_ != load_le32(discard_ ? trailer_ : buffer_.get() + payload)) return fail(Error{Errc::crc_mismatch});
    view_.payload = discard_ ? nullptr : buffer_.get();
    view_.payload_size = view_.header.payload_size;
    view_.frame_size = frame_size(view_.header);
    state_ = State::complete;
    return {};
  }

  // Copies into dst[have_, want) as much of src[0, n) as fits; returns the count.
  size_t take(uint8_t* dst, size_t want, const uint8_t* src, size_t n) noexcept {
    const size_t k = want - have_ < n ? want - have_ : n;
    if (k > 0) std::memcpy(dst + have_, src, k);
    have_ += k;
    return k;
  }

  // A discarded frame's next n bytes (n <= need()): payload bytes into the CRC, trailer bytes kept for the check.
  size_t skip(const uint8_t* src, size_t n) noexcept {
    const size_t payload = view_.header.payload_size;
    const size_t p = have_ < payload ? (payload - have_ < n ? payload - have_ : n) : 0;
    crc_ = crc32c(src, p, crc_);
    crc_covered_ += p;
    if (n > p) std::memcpy(trailer_ + (have_ + p - payload), src + p, n - p);
    have_ += n;
    return n;
  }

  // Room for `bytes` of a `body`-byte frame, keeping the have_ bytes already there.
  bool reserve(size_t bytes, size_t body) noexcept {
    if (bytes <= capacity_) return true;
    constexpr size_t kFirst = size_t{64} << 10;
    size_t grown = capacity_ > kFirst / 2 ? 2 * capacity_ : kFirst;
    if (grown > body) grown = body;
    if (grown < bytes) grown = bytes;
    std::unique_ptr<uint8_t[]> bigger(new (std::nothrow) uint8_t[grown]);
    if (!bigger) return false;  // the old buffer, and the bytes in it, stay
    if (have_ > 0) std::memcpy(bigger.get(), buffer_.get(), have_);
    buffer_ = std::move(bigger);
    capacity_ = grown;
    return true;
  }

  ParserLimits limits_;
  State state_ = State::header;
  size_t have_ = 0;  // bytes of the current part (header, or payload + trailer) received so far
  uint32_t crc_ = 0;         // CRC-32C of the header and the first crc_covered_ payload bytes
  size_t crc_covered_ = 0;
  bool discard_ = false;     // discard_body(): payload checked, not kept
  uint8_t trailer_[kTrailerSize] = {};  // a discarded frame's trailer
  uint8_t header_[kHeaderSize] = {};
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_ = 0;
  FrameView view_{};
  Error error_{};
};

}  // namespace slimcodec::wire
