// The TCP decode service (standalone Asio): accepts many device connections, parses frames incrementally,
// decodes them on a worker pool and replies per frame. A connection that sends bad bytes is answered with one
// error reply and dropped alone; the others carry on. shutdown() stops accepting, answers every frame already
// received, then closes.
//
// Hostile clients (docs/service.md): memory is bounded by a service-wide budget (parser buffers as they grow,
// plus payload and dequantized floats of every frame being decoded); a frame that does not fit is answered
// `overloaded`; a frame is admitted (frame_job.hpp: admit_frame, the checks that need no decoding) before anything
// is charged or allocated for its values. Each connection holds at most max_inflight_per_connection frames and
// queued replies together (reading pauses above that), a frame must keep a minimum data rate after a short grace
// (min_frame_rate, frame_grace) and arrive whole within frame_timeout of its first byte, a reply write must finish
// within write_timeout, and an accept error (EMFILE, ENFILE) backs off and re-arms accept. When the connection
// table is full, a new client takes the place of the slowest connection that is not waiting for a reply.
// Fairness: reads are short slices (kReadBufferBytes), a connection's frames queue for the decode threads behind
// its own earlier frames rather than others' (TaskOrder), and large frames never take every decode thread.
#pragma once

#include <slimcodec/common/alloc.hpp>
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/server/frame_job.hpp>
#include <slimcodec/server/memory_budget.hpp>
#include <slimcodec/server/worker_pool.hpp>
#include <slimcodec/wire/parser.hpp>

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace slimcodec::server {

struct ServiceOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see TcpService::port())
  size_t workers = 2;
  std::string backend = "identity";
  BackendOptions backend_options;
  // Where `backend` is looked up; nullptr: BackendRegistry::global(). The service adds the built-in backends
  // (register_builtin_backends) to it.
  BackendRegistry* registry = nullptr;
  // The codec-1 (rANS) tables frames may name (weights/entropy_tables.hpp loads them from a *.entropy.safetensors
  // file). Without them, or when a frame names other tables, a codec-1 frame is answered entropy_table_mismatch.
  std::shared_ptr<const entropy::TableSet> entropy_tables;
  // Frames being decoded plus replies not yet written, per connection: reading pauses at this many, so a client
  // that does not read its replies stops being read (back-pressure instead of memory growth).
  size_t max_inflight_per_connection = 32;
  size_t max_connections = 1024;
  size_t send_buffer_bytes = 0;  // SO_SNDBUF of each connection; 0 keeps the system's (autotuned) size
  wire::ParserLimits limits;
  // Bytes the service may hold for frames across all connections: each connection's 16 KiB read buffer (a
  // connection that would not fit is closed at once), parser buffers (as payload bytes arrive), and
  // for each frame being decoded its buffer (the parser's, handed over, not copied) plus its dequantized floats
  // (4 bytes per value), and the few spare buffers a connection keeps for reuse (256 KiB at most). A frame that
  // does not fit is answered `overloaded`; a partial frame whose buffer would not fit ends its stream with
  // `overloaded`. A frame larger than the whole budget is read through without being kept, then answered
  // `overloaded`. The check runs after each parser growth, so the total can pass the budget by at most one growth
  // step (at most limits.max_payload_size). Backend memory (its network, its output) is the backend's own.
  size_t memory_budget = size_t(1) << 30;
  // The budget to charge instead of one of memory_budget bytes: a program that runs several services (TCP and MQTT)
  // hands them the same one.
  std::shared_ptr<MemoryBudget> budget;
  std::chrono::milliseconds idle_timeout{30000};   // nothing received, decoding or being written this long: close
  std::chrono::milliseconds frame_timeout{60000};  // a frame not complete this long after its first byte: close
  // A frame in progress must keep min_frame_rate bytes per second once frame_grace has passed since its first byte:
  // it is cut when it has received fewer than min_frame_rate x (elapsed - frame_grace) bytes (the header's 48 bytes
  // have frame_grace to arrive). A client trickling a byte a second is cut after about frame_grace, not
  // frame_timeout. 0 turns the rate off (frame_timeout alone).
  size_t min_frame_rate = 4096;
  std::chrono::milliseconds frame_grace{2000};
  std::chrono::milliseconds write_timeout{30000};  // a reply write (client not reading) pending this long: close
  std::chrono::milliseconds accept_backoff{100};   // after an accept error (EMFILE, ENFILE): wait, then accept again
  std::chrono::milliseconds shutdown_grace{10000};  // after shutdown(), connections still open this long are cut
};

struct ServiceStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};  // table full of busy connections, or no memory for the connection
  std::atomic<uint64_t> connections_evicted{0};   // the slowest idle or trickling connection, closed for a new client
  std::atomic<uint64_t> connections_failed{0};    // not a valid frame stream, or a partial frame over the budget
  std::atomic<uint64_t> connections_cut{0};       // disconnected mid-frame, timed out, or cut at shutdown (once each)
  std::atomic<uint64_t> connections_timed_out{0};  // of those cut: idle, frame, frame rate or write timeout
  std::atomic<uint64_t> connections_too_slow{0};   // of those timed out: a frame below min_frame_rate
  std::atomic<uint64_t> accept_errors{0};          // accept failed (EMFILE, ENFILE, ...); accept re-armed after a pause
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> frames_answered{0};  // replies written to the socket (ok or decode error)
  std::atomic<uint64_t> frames_decode_failed{0};
  std::atomic<uint64_t> frames_overloaded{0};  // answered `overloaded` (memory budget), included in frames_answered
  std::atomic<uint64_t> frames_refused{0};  // refused before decoding (admit_frame: tables, backend's shapes)
  std::atomic<uint64_t> frames_unanswered{0};  // received, but the connection was gone before the reply was written
  std::atomic<uint64_t> outbox_peak{0};        // most replies ever queued on one connection
  std::atomic<uint64_t> memory_peak{0};        // most bytes ever charged to the memory budget
};

class TcpService;

namespace detail {

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
  Connection(asio::ip::tcp::socket socket, TcpService& service);
  void start();
  void deliver(const wire::ReplyBytes& reply, wire::FrameBuffer buffer);  // any thread; the frame's buffer comes back
  void shutdown();                        // any thread: stop reading, close once in-flight frames are answered
  void cut();                             // any thread: close now
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }  // closed: skip its queued work
  size_t slot_ = 0;  // its place in TcpService's list, which only the service touches (under its mutex)

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
  bool beyond_budget(const wire::FrameHeader& h) const;
  bool accepted(const wire::FrameHeader& h) const;
  void process();
  void submit_frame();
  void fail(Errc code);  // stream error: one error reply (frame id 0), then close
  void answer_now(const wire::FrameHeader& h, Errc status);  // a reply without decoding (overloaded, out_of_memory)
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
  TcpService& service_;
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

}  // namespace detail

class TcpService {
 public:
  static Result<std::unique_ptr<TcpService>> create(asio::io_context& io, ServiceOptions options) {
    BackendRegistry& registry = options.registry ? *options.registry : BackendRegistry::global();
    register_builtin_backends(registry);
    if (!options.budget &&
        !try_allocate([&] { options.budget = std::make_shared<MemoryBudget>(options.memory_budget); }))
      return Error{Errc::out_of_memory, "memory budget"};
    auto pool = WorkerPool::create(options.workers, options.backend, options.backend_options, registry);
    if (!pool) return pool.error();
    std::unique_ptr<TcpService> svc(new TcpService(io, std::move(options), std::move(*pool)));
    asio::error_code ec;
    auto address = asio::ip::make_address(svc->options_.bind_address, ec);
    if (ec) return Error{Errc::invalid_argument, "bad bind address"};
    asio::ip::tcp::endpoint endpoint(address, svc->options_.port);
    svc->acceptor_.open(endpoint.protocol(), ec);
    if (!ec) svc->acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) svc->acceptor_.bind(endpoint, ec);
    if (!ec) svc->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{Errc::io_error, "cannot listen on the requested address and port"};
    return svc;
  }

  ~TcpService() { stop_workers(); }

  // Stops the decode threads: running frames finish, queued ones are dropped (counted as unanswered).
  void stop_workers() { stats_.frames_unanswered += pool_->stop(); }

  // The memory budget (ServiceOptions::budget, or one of memory_budget bytes): charge() fails, charging nothing,
  // when `bytes` do not fit.
  bool charge(size_t bytes) {
    if (!budget_->charge(bytes)) return false;
    const uint64_t used = budget_->used();
    uint64_t peak = stats_.memory_peak.load(std::memory_order_relaxed);
    while (used > peak && !stats_.memory_peak.compare_exchange_weak(peak, used)) {
    }
    return true;
  }
  void release(size_t bytes) { budget_->release(bytes); }
  size_t memory_used() const { return budget_->used(); }
  MemoryBudget& budget() { return *budget_; }
  size_t connection_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_.size();
  }

  uint16_t port() const { return port_; }
  asio::io_context& io() { return io_; }
  const ServiceOptions& options() const { return options_; }
  ServiceStats& stats() { return stats_; }
  WorkerPool& pool() { return *pool_; }

  void start() { accept(); }

  // Stops accepting; every connection stops reading and closes once its received frames are answered.
  // Connections still open after shutdown_grace are cut (their unanswered frames counted in the stats).
  void shutdown() {
    asio::post(strand_, [this] {
      if (stopping_) return;
      stopping_ = true;
      asio::error_code ignored;
      acceptor_.close(ignored);
      accept_timer_.cancel();
      const auto live = live_connections();
      for (auto& c : live) c->shutdown();
      if (live.empty()) return;
      grace_timer_.expires_after(options_.shutdown_grace);
      grace_timer_.async_wait(asio::bind_executor(strand_, [this](const asio::error_code& ec) {
        if (ec) return;
        for (auto& c : live_connections()) c->cut();
      }));
    });
  }

  // Called by connections when they close; lets the grace timer go once the last one is gone.
  // Constant time: the connection knows its slot (a burst of 1,000 closes no longer scans 1,000 entries each).
  void on_connection_closed(detail::Connection* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t i = c->slot_;
    if (i >= connections_.size() || connections_[i].key != c) {
      for (i = 0; i < connections_.size() && connections_[i].key != c; ++i) {
      }
    }
    if (i < connections_.size()) {
      connections_[i] = std::move(connections_.back());
      connections_.pop_back();
      if (i < connections_.size())
        if (auto moved = connections_[i].connection.lock()) moved->slot_ = i;
    }
    if (stopping_ && connections_.empty()) asio::post(strand_, [this] { grace_timer_.cancel(); });
  }

 private:
  TcpService(asio::io_context& io, ServiceOptions options, std::unique_ptr<WorkerPool> pool)
      : io_(io),
        options_(std::move(options)),
        pool_(std::move(pool)),
        budget_(options_.budget),
        strand_(io),
        acceptor_(io),
        grace_timer_(io),
        accept_timer_(io) {}

  // A connection younger than this gives way to a new client only when every other candidate is younger too.
  static constexpr std::chrono::milliseconds kEvictMinAge{1000};

  // The table is full: the connection with the lowest average receive rate among those the service owes no reply
  // (none decoding, no reply being written) is cut for the new client, older ones (kEvictMinAge) first. Idle
  // connections and tricklers go first; a client waiting for its reply is never evicted. False when every
  // connection is owed a reply: the new client is refused.
  bool evict_slowest() {
    const auto now = std::chrono::steady_clock::now();
    std::shared_ptr<detail::Connection> victim;
    double slowest = 0;
    bool victim_old = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& r : connections_) {
        auto c = r.connection.lock();
        if (!c || c->busy() || c->evicting_.load(std::memory_order_relaxed)) continue;
        const bool old = now - c->accepted_at() >= kEvictMinAge;
        const double rate = c->rate(now);
        if (!victim || (old && !victim_old) || (old == victim_old && rate < slowest)) {
          victim = std::move(c);
          slowest = rate;
          victim_old = old;
        }
      }
    }
    if (!victim) return false;
    victim->evicting_.store(true, std::memory_order_relaxed);
    ++stats_.connections_evicted;
    victim->cut();
    return true;
  }

  std::vector<std::shared_ptr<detail::Connection>> live_connections() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<detail::Connection>> out;
    for (auto& r : connections_)
      if (auto c = r.connection.lock()) out.push_back(std::move(c));
    return out;
  }

  void accept() {
    if (port_ == 0) port_ = acceptor_.local_endpoint().port();
    acceptor_.async_accept(io_, asio::bind_executor(strand_, [this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
      if (stopping_ || ec == asio::error::operation_aborted) return;  // acceptor closed
      if (ec) {
        // EMFILE/ENFILE (out of descriptors), ENOBUFS, ECONNABORTED...: the listener is fine; try again after a
        // pause (an immediate retry would spin while the descriptors stay exhausted).
        ++stats_.accept_errors;
        accept_timer_.expires_after(options_.accept_backoff);
        accept_timer_.async_wait(asio::bind_executor(strand_, [this](const asio::error_code& wait_ec) {
          if (!wait_ec && !stopping_) accept();
        }));
        return;
      }
      size_t live;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        live = connections_.size();
      }
      if ((live >= options_.max_connections && !evict_slowest()) || !charge(detail::kReadBufferBytes)) {
        ++stats_.connections_rejected;  // every slot owed a reply, or no budget left for its read buffer
        asio::error_code ignored;
        socket.close(ignored);
      } else {
        std::shared_ptr<detail::Connection> c;
        const bool added = try_allocate([&] {
          c = std::make_shared<detail::Connection>(std::move(socket), *this);
          std::lock_guard<std::mutex> lock(mutex_);
          c->slot_ = connections_.size();
          connections_.push_back({c.get(), c});
        });
        if (added) {
          ++stats_.connections_accepted;
          c->start();
        } else {
          release(detail::kReadBufferBytes);
          ++stats_.connections_rejected;  // out of memory: the socket closes with c (or was never moved)
        }
      }
      accept();
    }));
  }

  asio::io_context& io_;
  ServiceOptions options_;
  std::unique_ptr<WorkerPool> pool_;
  std::shared_ptr<MemoryBudget> budget_;
  // Serialises the acceptor's and the service's timers' handlers: io() may be run by several threads
  // (decode_service --io-threads). io_context::strand rather than asio::strand<>: see Connection::strand_.
  asio::io_context::strand strand_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer grace_timer_, accept_timer_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  ServiceStats stats_;
  std::mutex mutex_;
  struct Registered {
    const detail::Connection* key;  // compared, never followed
    std::weak_ptr<detail::Connection> connection;
  };
  std::vector<Registered> connections_;  // under mutex_
};

// ------------------------------ Connection

namespace detail {

// A connection keeps its parser's buffer between frames up to this size; after a larger frame it starts afresh.
inline constexpr size_t kKeepParserBytes = size_t(1) << 20;
// Spare frame buffers a connection keeps, in bytes (a frame decoding holds its own until its reply).
inline constexpr size_t kKeepSpareBytes = size_t(256) << 10;

inline Connection::Connection(asio::ip::tcp::socket socket, TcpService& service)
    : socket_(std::move(socket)),
      service_(service),
      strand_(service.io()),
      idle_timer_(service.io()),
      frame_timer_(service.io()),
      write_timer_(service.io()),
      parser_(service.options().limits),
      buffer_(new uint8_t[kReadBufferBytes]) {}  // constructed inside try_allocate (TcpService::accept)

inline void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] {
    asio::error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (const size_t b = self->service_.options().send_buffer_bytes; b > 0 && b <= size_t(INT_MAX))
      self->socket_.set_option(asio::socket_base::send_buffer_size(int(b)), ignored);
    self->arm_idle_timer();
    self->read();
  });
}

inline void Connection::count_cut(bool timed_out) {
  if (cut_counted_) return;
  cut_counted_ = true;
  ++service_.stats().connections_cut;
  if (timed_out) ++service_.stats().connections_timed_out;
}

inline void Connection::arm_idle_timer() {
  idle_timer_.expires_after(service_.options().idle_timeout);
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
  const ServiceOptions& o = service_.options();
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
    const ServiceOptions& o = self->service_.options();
    const auto now = std::chrono::steady_clock::now();
    const auto timeout = self->frame_started_ + o.frame_timeout;
    const bool too_slow = self->frame_too_slow(now);
    if (now >= timeout || too_slow) {
      if (too_slow && now < timeout) ++self->service_.stats().connections_too_slow;
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
    const ServiceOptions& o = service_.options();
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
    service_.release(parser_charged_ - capacity);
  } else if (capacity > parser_charged_ && !service_.charge(capacity - parser_charged_)) {
    return false;
  }
  parser_charged_ = capacity;
  return true;
}

// A frame whose payload and floats together exceed the whole memory budget can never be decoded here: its payload
// is read through and checked but not kept (FrameParser::discard_body), then answered `overloaded` (or
// shape_out_of_range, for a shape the backend does not take), so it costs neither memory nor copies, however many
// such frames arrive.
inline bool Connection::beyond_budget(const wire::FrameHeader& h) const {
  const uint64_t bytes = uint64_t(h.payload_size) + frame_values(h) * sizeof(float);
  return bytes > service_.budget().limit();
}

// A shape the backend does not take is known from the header: its payload is read through, never kept.
inline bool Connection::accepted(const wire::FrameHeader& h) const {
  return service_.pool().accepted().accepts(Shape{h.channels, h.height, h.width});
}

inline bool Connection::backpressured() const {
  // Frames decoding and replies not yet written both count; reading resumes when a reply has been written.
  return inflight_ + outbox_.size() >= std::max<size_t>(1, service_.options().max_inflight_per_connection);
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
    if (parser_.in_body() && !parser_.discarded() && (beyond_budget(parser_.header()) || !accepted(parser_.header())))
      parser_.discard_body();
    if (parser_.has_frame()) submit_frame();
  }
  if (closed_) return;
  track_frame_deadline();
  if (pos_ == len_) read();
}

inline void Connection::submit_frame() {
  frame_timer_armed_ = false;  // this frame arrived in time; the next one gets its own deadline
  frame_timer_.cancel();
  const wire::FrameHeader header = parser_.frame().header;
  ++service_.stats().frames_received;
  if (parser_.discarded()) {  // read through, never kept: a shape the backend refuses, or beyond_budget
    if (!accepted(header)) {
      ++service_.stats().frames_refused;
      ++service_.stats().frames_decode_failed;
      return answer_now(header, Errc::shape_out_of_range);
    }
    ++service_.stats().frames_overloaded;
    return answer_now(header, Errc::overloaded);
  }
  // The frame's buffer goes to the job as it is (no copy); the parser takes a spare for the next frame. The
  // buffer stays charged to the budget (moved from the parser's share to the job's); the dequantized floats are
  // charged here.
  // Admitted first (tables, the backend's shapes): nothing is charged or allocated for a frame that cannot decode.
  const wire::FrameView& view = parser_.frame();
  const size_t floats = size_t(frame_float_bytes(header));
  if (auto admitted = admit_frame(header, view.payload, view.payload_size, service_.options().entropy_tables.get(),
                                  service_.pool().accepted());
      !admitted) {
    ++service_.stats().frames_refused;
    ++service_.stats().frames_decode_failed;
    answer_now(header, admitted.code());  // the buffer stays with the parser
  } else if (!service_.charge(floats)) {
    ++service_.stats().frames_overloaded;
    answer_now(header, Errc::overloaded);  // the buffer stays with the parser
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
    const bool queued = service_.pool().submit(
        [self = shared_from_this(), header, buffer = std::move(buffer), floats](DecoderBackend& backend,
                                                                               std::vector<float>& scratch) mutable {
          if (self->cancelled()) {  // the connection is gone: no reply can be written, skip the work
            self->service_.release(floats);
            return self->deliver(wire::ReplyBytes{}, std::move(buffer));
          }
          const wire::Reply reply =
              decode_frame_to_reply(backend, header, buffer.data.get(), header.payload_size, scratch,
                                    self->service_.options().entropy_tables.get());
          self->service_.release(floats);
          if (reply.status != Errc::ok) ++self->service_.stats().frames_decode_failed;
          self->deliver(wire::write_reply(reply), std::move(buffer));
        },
        order);
    if (!queued) {  // the task, and the buffer in it, are gone
      --inflight_;
      update_busy();
      service_.release(floats + held);
      answer_now(header, Errc::out_of_memory);
    }
  }
  if (parser_.buffer_capacity() > kKeepParserBytes) {  // after a big frame: give its buffer back
    parser_ = wire::FrameParser(service_.options().limits);
    (void)charge_parser();  // only releases
  }
}

inline void Connection::answer_now(const wire::FrameHeader& h, Errc status) {
  wire::Reply reply;
  reply.status = status;
  reply.frame_id = h.frame_id;
  reply.timestamp_us = h.timestamp_us;
  send(wire::write_reply(reply));
}

inline void Connection::fail(Errc code) {
  ++service_.stats().connections_failed;
  stop_reading_ = true;
  wire::Reply reply;
  reply.status = code;
  if (try_allocate([&] { outbox_.push_back({wire::write_reply(reply), false}); })) write_next();
  else close_if_done();
}

inline void Connection::recycle(wire::FrameBuffer buffer) {
  if (!buffer.data) return;
  const size_t n = buffer.capacity;
  if (closed_ || n > kKeepParserBytes || spares_charged_ + n > kKeepSpareBytes ||
      !try_allocate([&] { spares_.push_back(std::move(buffer)); })) {
    service_.release(n);  // freed with `buffer`
    return;
  }
  spares_charged_ += n;
}

inline void Connection::deliver(const wire::ReplyBytes& reply, wire::FrameBuffer buffer) {
  asio::post(strand_, [self = shared_from_this(), reply, buffer = std::move(buffer)]() mutable {
    --self->inflight_;
    self->update_busy();
    self->recycle(std::move(buffer));
    if (self->closed_) {
      ++self->service_.stats().frames_unanswered;
      return;
    }
    self->send(reply);
  });
}

inline void Connection::send(const wire::ReplyBytes& reply) {
  if (!try_allocate([&] { outbox_.push_back({reply, true}); })) {
    ++service_.stats().frames_unanswered;
    return close_if_done();
  }
  auto& peak = service_.stats().outbox_peak;
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (outbox_.size() > seen && !peak.compare_exchange_weak(seen, outbox_.size())) {
  }
  write_next();
}

inline void Connection::write_next() {
  if (writing_ || outbox_.empty() || closed_) return close_if_done();
  writing_ = true;
  update_busy();
  write_timer_.expires_after(service_.options().write_timeout);
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
                        if (answers_frame) ++self->service_.stats().frames_unanswered;
                        self->count_cut(false);
                        self->stop_reading_ = true;
                        return self->close();
                      }
                      if (answers_frame) ++self->service_.stats().frames_answered;
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
    if (o.answers_frame) ++service_.stats().frames_unanswered;
  outbox_.erase(writing_ ? outbox_.begin() + 1 : outbox_.begin(), outbox_.end());
  asio::error_code ignored;
  idle_timer_.cancel();
  frame_timer_.cancel();
  write_timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  parser_ = wire::FrameParser(service_.options().limits);  // frees a partial frame's buffer now
  service_.release(parser_charged_);
  parser_charged_ = 0;
  spares_.clear();
  service_.release(spares_charged_ + kReadBufferBytes);  // the read buffer itself goes with the last handler
  spares_charged_ = 0;
  service_.on_connection_closed(this);
}

}  // namespace detail
}  // namespace slimcodec::server
