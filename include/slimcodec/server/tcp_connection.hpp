// One TCP connection of the decode service: reads bytes in short slices, feeds the incremental parser, hands each
// complete frame to the pipeline (pipeline.hpp) and writes the replies back in order. It moves bytes and enforces
// what a hostile client may hold (docs/service.md): parser memory charged to the budget, at most
// max_inflight_per_connection frames and queued replies (reading pauses above that), a minimum data rate per frame
// after a grace, whole frames within frame_timeout, reply writes within write_timeout, idle connections closed.
// A connection that sends bad bytes is answered with one error reply and closed alone.
#pragma once

#include "slimcodec/common/alloc.hpp"
#include "slimcodec/server/pipeline.hpp"
#include "slimcodec/server/tcp_options.hpp"
#include "slimcodec/wire/parser.hpp"

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace slimcodec::server {
namespace detail {

class Connection;

// What a connection needs from its service; outlives every connection.
struct TcpContext {
  asio::io_context& io;
  const ServiceOptions& options;
  ServiceStats& stats;
  FramePipeline& pipeline;
  std::function<void(const Connection*)> closed;  // the connection table forgets it (tcp_acceptor.hpp)
};

// Each connection reads through a buffer of kReadBufferBytes (charged to the memory budget while the connection
// lives); a payload with kDirectReadBytes or more still to come is read straight into the parser's frame buffer (no
// copy). Either way a read takes at most kReadBufferBytes: the I/O thread goes round the ready connections in
// slices that short, so a client sending 16 MiB frames delays another's small frame by microseconds per slice, not
// by milliseconds (measured: 16 KiB slices against 256 KiB took the small frames' p99 under 8 x 16 MiB from 55 to
// 6 ms, docs/service.md).
inline constexpr size_t kReadBufferBytes = size_t(16) << 10;
inline constexpr size_t kDirectReadBytes = size_t(4) << 10;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, TcpContext& ctx);
  void start();
  void deliver(const wire::ReplyBytes* reply, wire::FrameBuffer buffer);  // any thread; the frame's buffer comes back
  void shutdown();                        // any thread: stop reading, close once in-flight frames are answered
  void cut();                             // any thread: close now
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }  // closed: skip its queued work
  size_t slot_ = 0;  // its place in the acceptor's table, which only the acceptor touches (under its mutex)

  // For the acceptor's choice when the table is full (any thread): whether the service owes this connection a
  // reply, and its average receive rate since it was accepted (bytes per second, the first second counted whole).
  bool busy() const { return busy_.load(std::memory_order_relaxed); }
  double rate(std::chrono::steady_clock::time_point now) const {
    const double s = std::chrono::duration<double>(now - accepted_at_).count();
    return double(bytes_in_.load(std::memory_order_relaxed)) / (s > 1.0 ? s : 1.0);
  }
  std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }
  std::atomic<bool> evicting_{false};  // chosen once by the acceptor

 private:
  void read();
  void read_body();  // a large payload: straight into the parser's frame buffer
  bool read_ended(const asio::error_code& ec);
  bool backpressured() const;
  void process();
  void submit_frame();
  void fail(Errc code);  // stream error: one error reply (frame id 0), then close
  void send(const wire::ReplyBytes& reply);
  void write_next();
  void close_if_done();
  void close();
  void count_cut(bool timed_out);
  void arm_idle_timer();
  void track_frame_deadline();
  void arm_frame_timer(std::chrono::steady_clock::time_point at);
  bool frame_too_slow(std::chrono::steady_clock::time_point now) const;
  void count_bytes(size_t n);
  void update_busy() { busy_.store(inflight_ > 0 || writing_, std::memory_order_relaxed); }
  bool charge_parser();  // false: over the memory budget
  void recycle(wire::FrameBuffer buffer);  // a decoded frame's buffer: kept as a spare for the parser, or freed

  asio::ip::tcp::socket socket_;
  TcpContext& ctx_;
  // Every handler of this connection runs here (the socket and timers use the io_context's executor, their handlers
  // are bound to the strand). io_context::strand, not asio::strand<>: with Asio 1.22.1's asio::strand<> (shared,
  // reference-counted implementations), ASan + UBSan builds reported a strand implementation released once too often
  // when a timer handler ended the connection (docs/service.md); with io_context::strand (a fixed pool, no counts)
  // the same 120 runs reported nothing.
  asio::io_context::strand strand_;
  asio::steady_timer idle_timer_, frame_timer_, write_timer_;
  wire::FrameParser parser_;
  size_t parser_charged_ = 0;  // bytes of parser buffer charged to the service's memory budget
  // Buffers of decoded frames, handed back to the parser as frames complete, so that frames reuse a few buffers
  // instead of allocating one each. Charged to the budget while kept (spares_charged_).
  std::vector<wire::FrameBuffer> spares_;
  size_t spares_charged_ = 0;
  bool frame_timer_armed_ = false, cut_counted_ = false;
  std::chrono::steady_clock::time_point frame_started_{};  // first byte of the frame in progress
  uint64_t frame_bytes_ = 0;                             // bytes of it received so far
  const std::chrono::steady_clock::time_point accepted_at_ = std::chrono::steady_clock::now();
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<bool> busy_{false};
  std::atomic<bool> cancelled_{false};
  std::unique_ptr<uint8_t[]> buffer_;  // kReadBufferBytes, for headers and small frames; charged to the budget
  size_t pos_ = 0, len_ = 0;
  struct Outgoing {
    wire::ReplyBytes bytes;
    bool answers_frame;  // false for the one error reply that ends a bad stream
  };
  std::deque<Outgoing> outbox_;
  size_t inflight_ = 0;
  bool writing_ = false, reading_ = false, stop_reading_ = false, closed_ = false;
};

// Where the pipeline hands a decoded frame's reply: back to its connection's strand.
struct ReplySink {
  std::shared_ptr<Connection> connection;
  bool cancelled() const { return connection->cancelled(); }
  void operator()(const wire::ReplyBytes* reply, wire::FrameBuffer buffer) {
    connection->deliver(reply, std::move(buffer));
  }
};

// ------------------------------ Connection

// A connection keeps its parser's buffer between frames up to this size; after a larger frame it starts afresh.
inline constexpr size_t kKeepParserBytes = size_t(1) << 20;
// Spare frame buffers a connection keeps, in bytes (a frame decoding holds its own until its reply).
inline constexpr size_t kKeepSpareBytes = size_t(256) << 10;

inline Connection::Connection(asio::ip::tcp::socket socket, TcpContext& ctx)
    : socket_(std::move(socket)),
      ctx_(ctx),
      strand_(ctx.io),
      idle_timer_(ctx.io),
      frame_timer_(ctx.io),
      write_timer_(ctx.io),
      parser_(ctx.options.limits),
      buffer_(new uint8_t[kReadBufferBytes]) {}  // constructed inside try_allocate (TcpService::accept)

inline void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] {
    asio::error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (const size_t b = self->ctx_.options.send_buffer_bytes; b > 0 && b <= size_t(INT_MAX))
      self->socket_.set_option(asio::socket_base::send_buffer_size(int(b)), ignored);
    self->arm_idle_timer();
    self->read();
  });
}

inline void Connection::count_cut(bool timed_out) {
  if (cut_counted_) return;
  cut_counted_ = true;
  ++ctx_.stats.connections_cut;
  if (timed_out) ++ctx_.stats.connections_timed_out;
}

inline void Connection::arm_idle_timer() {
  idle_timer_.expires_after(ctx_.options.idle_timeout);
  idle_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed_) return;
    // Decoding is the server's time, and a pending write has its own deadline (write_timeout).
    if (self->inflight_ > 0 || self->writing_) return self->arm_idle_timer();
    self->count_cut(true);
    self->close();
  }));
}

inline void Connection::count_bytes(size_t n) {
  bytes_in_.fetch_add(n, std::memory_order_relaxed);
  frame_bytes_ += n;
}

// A frame in progress is too slow once frame_grace has passed and it has received fewer than min_frame_rate bytes per
// second beyond the grace.
inline bool Connection::frame_too_slow(std::chrono::steady_clock::time_point now) const {
  const ServiceOptions& o = ctx_.options;
  if (o.min_frame_rate == 0 || now - frame_started_ <= o.frame_grace) return false;
  const double beyond = std::chrono::duration<double>(now - frame_started_ - o.frame_grace).count();
  return double(frame_bytes_) < double(o.min_frame_rate) * beyond;
}

inline void Connection::arm_frame_timer(std::chrono::steady_clock::time_point at) {
  frame_timer_.expires_at(at);
  frame_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed_ || !self->frame_timer_armed_) return;
    if (!self->stop_reading_ && (self->pos_ < self->len_ || self->backpressured())) {
      // Reading is paused by back-pressure (our decoding or the client's unread replies, which write_timeout
      // covers): the rest of the frame may be in our buffer already. Not the sender's delay.
      self->frame_timer_armed_ = false;
      return self->track_frame_deadline();
    }
    const ServiceOptions& o = self->ctx_.options;
    const auto now = std::chrono::steady_clock::now();
    const auto timeout = self->frame_started_ + o.frame_timeout;
    const bool too_slow = self->frame_too_slow(now);
    if (now >= timeout || too_slow) {
      if (too_slow && now < timeout) ++self->ctx_.stats.connections_too_slow;
      self->count_cut(true);
      return self->close();
    }
    // Next: when the bytes received so far stop covering the rate (later as more arrive), or the frame timeout.
    auto next = timeout;
    if (o.min_frame_rate > 0) {
      const double seconds = std::min(double(self->frame_bytes_) / double(o.min_frame_rate), 1e6);  // no overflow
      const auto covered = self->frame_started_ + o.frame_grace +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds));
      next = std::min(next, std::max(covered, now + std::chrono::milliseconds(50)));
    }
    self->arm_frame_timer(next);
  }));
}

// Arms the frame deadline at a frame's first byte and disarms it when the frame completes (submit_frame). The timer
// first fires after frame_grace (or frame_timeout, if shorter), then checks the rate until the frame is complete.
inline void Connection::track_frame_deadline() {
  const bool mid_frame = !parser_.failed() && !parser_.finish();
  if (mid_frame && !frame_timer_armed_) {
    frame_timer_armed_ = true;
    frame_started_ = std::chrono::steady_clock::now();
    frame_bytes_ = 0;
    const ServiceOptions& o = ctx_.options;
    auto first = o.frame_timeout;
    if (o.min_frame_rate > 0)
      first = std::min(first, std::chrono::duration_cast<std::chrono::milliseconds>(o.frame_grace));
    arm_frame_timer(frame_started_ + first);
  } else if (!mid_frame && frame_timer_armed_) {
    frame_timer_armed_ = false;
    frame_timer_.cancel();
  }
}

inline bool Connection::charge_parser() {
  const size_t capacity = parser_.buffer_capacity();
  if (capacity < parser_charged_) {
    ctx_.pipeline.release(parser_charged_ - capacity);
  } else if (capacity > parser_charged_ && !ctx_.pipeline.charge(capacity - parser_charged_)) {
    return false;
  }
  parser_charged_ = capacity;
  return true;
}

inline bool Connection::backpressured() const {
  // Frames decoding and replies not yet written both count; reading resumes when a reply has been written.
  return inflight_ + outbox_.size() >= std::max<size_t>(1, ctx_.options.max_inflight_per_connection);
}

// Peer closed or reset (or the socket was closed): true when the read ended the connection's reading.
inline bool Connection::read_ended(const asio::error_code& ec) {
  if (!ec) return false;
  // A half-closed peer still gets the replies to the frames it sent; a frame cut in the middle is dropped with the
  // connection.
  if (!parser_.finish()) count_cut(false);
  stop_reading_ = true;
  close_if_done();
  return true;
}

inline void Connection::read() {
  if (reading_ || stop_reading_ || closed_) return;
  if (pos_ < len_) return process();  // bytes left in the buffer from before a pause
  if (backpressured()) return track_frame_deadline();
  if (parser_.in_body() && !parser_.discarded() && parser_.need() >= kDirectReadBytes) return read_body();
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(buffer_.get(), kReadBufferBytes),
      asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec, size_t n) {
        self->reading_ = false;
        if (self->closed_ || self->read_ended(ec)) return;
        self->arm_idle_timer();
        self->count_bytes(n);
        self->pos_ = 0;
        self->len_ = n;
        self->process();
      }));
}

inline void Connection::read_body() {
  auto space = parser_.body_space(kReadBufferBytes);
  const bool fits = charge_parser();
  if (!space) return fail(space.code());
  if (!fits) return fail(Errc::overloaded);
  reading_ = true;
  // The parser's buffer is not touched until this read completes: nothing else feeds the parser meanwhile, and
  // close() closes the socket (ending the read) before it frees the buffer.
  socket_.async_read_some(
      asio::buffer(space->data, space->size),
      asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec, size_t n) {
        self->reading_ = false;
        if (self->closed_ || self->read_ended(ec)) return;
        self->arm_idle_timer();
        self->count_bytes(n);
        if (auto done = self->parser_.commit(n); !done) return self->fail(done.code());
        if (self->parser_.has_frame()) self->submit_frame();
        if (self->closed_) return;
        self->track_frame_deadline();
        self->read();
      }));
}

inline void Connection::process() {
  while (pos_ < len_ && !stop_reading_) {
    if (backpressured()) return track_frame_deadline();
    auto consumed = parser_.feed(buffer_.get() + pos_, len_ - pos_);
    const bool fits = charge_parser();
    if (!consumed) return fail(consumed.code());
    if (!fits) return fail(Errc::overloaded);
    pos_ += *consumed;
    // A frame that could never fit the budget, or whose shape the backend does not take, is read through and
    // checked but not kept (FrameParser::discard_body): it costs neither memory nor copies, however many arrive.
    if (parser_.in_body() && !parser_.discarded() &&
        (ctx_.pipeline.beyond_budget(parser_.header()) || !ctx_.pipeline.accepts(parser_.header())))
      parser_.discard_body();
    if (parser_.has_frame()) submit_frame();
  }
  if (closed_) return;
  track_frame_deadline();
  if (pos_ == len_) read();
}

// A complete frame goes down the pipeline (pipeline.hpp): admitted, charged, decoded on the worker pool; its reply
// comes back through deliver(). The frame's buffer goes to the pipeline as it is (no copy) and stays charged to the
// budget (moved from the parser's share to the frame's, then to the spares); the parser takes a spare for the next.
inline void Connection::submit_frame() {
  frame_timer_armed_ = false;  // this frame arrived in time; the next one gets its own deadline
  frame_timer_.cancel();
  FramePipeline& pipeline = ctx_.pipeline;
  const wire::FrameHeader header = parser_.frame().header;
  if (parser_.discarded()) {  // read through, never kept
    send(FramePipeline::refusal(header, pipeline.admit_unread(header)));
  } else if (const Admission admitted = pipeline.admit(parser_.frame()); !admitted) {
    send(FramePipeline::refusal(header, admitted.status));  // the buffer stays with the parser
  } else {
    wire::FrameBuffer spare;
    if (!spares_.empty()) {
      spare = std::move(spares_.back());
      spares_.pop_back();
      spares_charged_ -= spare.capacity;
    }
    wire::FrameBuffer buffer = parser_.take_frame_buffer(std::move(spare));
    parser_charged_ = parser_.buffer_capacity();  // the spare's bytes, charged while it was a spare
    const size_t held = buffer.capacity;
    const TaskOrder order{inflight_, heavy_frame(header)};  // behind this connection's own frames, not others'
    ++inflight_;
    update_busy();
    if (!pipeline.submit(header, admitted, std::move(buffer), order, ReplySink{shared_from_this()})) {
      --inflight_;  // the task, and the buffer in it, are gone
      update_busy();
      pipeline.release(held);
      send(FramePipeline::refusal(header, Errc::out_of_memory));
    }
  }
  if (parser_.buffer_capacity() > kKeepParserBytes) {  // after a big frame: give its buffer back
    parser_ = wire::FrameParser(ctx_.options.limits);
    (void)charge_parser();  // only releases
  }
}

inline void Connection::fail(Errc code) {
  ++ctx_.stats.connections_failed;
  stop_reading_ = true;
  if (try_allocate([&] { outbox_.push_back({FramePipeline::stream_error(code), false}); })) write_next();
  else close_if_done();
}

inline void Connection::recycle(wire::FrameBuffer buffer) {
  if (!buffer.data) return;
  const size_t n = buffer.capacity;
  if (closed_ || n > kKeepParserBytes || spares_charged_ + n > kKeepSpareBytes ||
      !try_allocate([&] { spares_.push_back(std::move(buffer)); })) {
    ctx_.pipeline.release(n);  // freed with `buffer`
    return;
  }
  spares_charged_ += n;
}

// A decode thread hands back the frame's reply (null: skipped, the connection was gone) and its buffer.
inline void Connection::deliver(const wire::ReplyBytes* reply, wire::FrameBuffer buffer) {
  const wire::ReplyBytes bytes = reply ? *reply : wire::ReplyBytes{};
  asio::post(strand_, [self = shared_from_this(), bytes, buffer = std::move(buffer)]() mutable {
    --self->inflight_;
    self->update_busy();
    self->recycle(std::move(buffer));
    if (self->closed_) return self->ctx_.pipeline.count_reply(false);
    self->send(bytes);
  });
}

inline void Connection::send(const wire::ReplyBytes& reply) {
  if (!try_allocate([&] { outbox_.push_back({reply, true}); })) {
    ctx_.pipeline.count_reply(false);
    return close_if_done();
  }
  auto& peak = ctx_.stats.outbox_peak;
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (outbox_.size() > seen && !peak.compare_exchange_weak(seen, outbox_.size())) {
  }
  write_next();
}

inline void Connection::write_next() {
  if (writing_ || outbox_.empty() || closed_) return close_if_done();
  writing_ = true;
  update_busy();
  write_timer_.expires_after(ctx_.options.write_timeout);
  write_timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed_ || !self->writing_) return;
    self->count_cut(true);  // the client does not read its replies
    self->close();
  }));
  asio::async_write(socket_, asio::buffer(outbox_.front().bytes.data(), outbox_.front().bytes.size()),
                    asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec, size_t) {
                      self->writing_ = false;
                      self->update_busy();
                      self->write_timer_.cancel();
                      if (self->closed_) return;
                      const bool answers_frame = self->outbox_.front().answers_frame;
                      self->outbox_.pop_front();
                      if (ec) {
                        if (answers_frame) self->ctx_.pipeline.count_reply(false);
                        self->count_cut(false);
                        self->stop_reading_ = true;
                        return self->close();
                      }
                      if (answers_frame) self->ctx_.pipeline.count_reply(true);
                      if (!self->stop_reading_) self->read();  // resumes reading paused by back-pressure
                      self->write_next();
                    }));
}

inline void Connection::close_if_done() {
  if (!closed_ && stop_reading_ && inflight_ == 0 && outbox_.empty() && !writing_) close();
}

inline void Connection::shutdown() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stop_reading_ = true;
    asio::error_code ignored;
    if (self->reading_) self->socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
    self->close_if_done();
  });
}

inline void Connection::cut() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closed_) return;
    self->count_cut(false);
    self->close();
  });
}

inline void Connection::close() {
  if (closed_) return;
  closed_ = true;
  cancelled_ = true;
  stop_reading_ = true;
  // Replies still queued will never be written (a write in progress keeps its buffer until it is aborted).
  for (const auto& o : outbox_)
    if (o.answers_frame) ctx_.pipeline.count_reply(false);
  outbox_.erase(writing_ ? outbox_.begin() + 1 : outbox_.begin(), outbox_.end());
  asio::error_code ignored;
  idle_timer_.cancel();
  frame_timer_.cancel();
  write_timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  parser_ = wire::FrameParser(ctx_.options.limits);  // frees a partial frame's buffer now
  ctx_.pipeline.release(parser_charged_);
  parser_charged_ = 0;
  spares_.clear();
  ctx_.pipeline.release(spares_charged_ + kReadBufferBytes);  // the read buffer itself goes with the last handler
  spares_charged_ = 0;
  ctx_.closed(this);
}

}  // namespace detail
}  // namespace slimcodec::server
