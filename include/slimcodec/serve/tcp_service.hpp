// The TCP decode service (standalone Asio): accepts many device connections, parses frames incrementally,
// decodes them on a worker pool and replies per frame. A connection that sends bad bytes is answered with one
// error reply and dropped alone; the others carry on. shutdown() stops accepting, answers every frame already
// received, then closes.
#pragma once

#include <slimcodec/serve/frame_job.hpp>
#include <slimcodec/serve/worker_pool.hpp>
#include <slimcodec/wire/parser.hpp>

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace slimcodec::serve {

struct ServiceOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see TcpService::port())
  size_t workers = 2;
  std::string backend = "identity";
  decode::BackendOptions backend_options;
  size_t max_inflight_per_connection = 32;  // read pauses above this: back-pressure instead of memory growth
  size_t max_connections = 1024;
  wire::ParserLimits limits;
  std::chrono::milliseconds idle_timeout{30000};     // a connection silent this long (mid-frame or not) is closed
  std::chrono::milliseconds shutdown_grace{10000};  // after shutdown(), connections still open this long are cut
};

struct ServiceStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};  // over max_connections
  std::atomic<uint64_t> connections_failed{0};    // sent bytes that are not a valid frame stream
  std::atomic<uint64_t> connections_cut{0};       // disconnected mid-frame, idle, or cut at shutdown
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> frames_answered{0};  // replies written to the socket (ok or decode error)
  std::atomic<uint64_t> frames_decode_failed{0};
  std::atomic<uint64_t> frames_unanswered{0};  // decoded but the connection was gone
};

class TcpService;

namespace detail {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, TcpService& service);
  void start();
  void deliver(const ReplyBytes& reply);  // any thread
  void shutdown();                        // any thread: stop reading, close once in-flight frames are answered
  void cut();                             // any thread: close now

 private:
  void read();
  void process();
  void fail(Errc code);  // stream error: one error reply (frame id 0), then close
  void send(const ReplyBytes& reply);
  void write_next();
  void close_if_done();
  void close();
  void arm_idle_timer();

  asio::ip::tcp::socket socket_;
  TcpService& service_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer idle_timer_;
  wire::FrameParser parser_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(64 * 1024);
  size_t pos_ = 0, len_ = 0;
  struct Outgoing {
    ReplyBytes bytes;
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
    auto pool = WorkerPool::create(options.workers, options.backend, options.backend_options);
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

  ~TcpService() { pool_->stop(); }

  uint16_t port() const { return port_; }
  asio::io_context& io() { return io_; }
  const ServiceOptions& options() const { return options_; }
  ServiceStats& stats() { return stats_; }
  WorkerPool& pool() { return *pool_; }

  void start() { accept(); }

  // Stops accepting; every connection stops reading and closes once its received frames are answered.
  // Connections still open after shutdown_grace are cut (their unanswered frames counted in the stats).
  void shutdown() {
    asio::post(acceptor_.get_executor(), [this] {
      if (stopping_) return;
      stopping_ = true;
      asio::error_code ignored;
      acceptor_.close(ignored);
      const auto live = live_connections();
      for (auto& c : live) c->shutdown();
      if (live.empty()) return;
      grace_timer_.expires_after(options_.shutdown_grace);
      grace_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec) return;
        for (auto& c : live_connections()) c->cut();
      });
    });
  }

  // Called by connections when they close; lets the grace timer go once the last one is gone.
  void on_connection_closed(detail::Connection* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end(); ++it)
      if (it->lock().get() == c || it->expired()) {
        connections_.erase(it);
        break;
      }
    if (stopping_ && connections_.empty()) asio::post(acceptor_.get_executor(), [this] { grace_timer_.cancel(); });
  }

 private:
  TcpService(asio::io_context& io, ServiceOptions options, std::unique_ptr<WorkerPool> pool)
      : io_(io), options_(std::move(options)), pool_(std::move(pool)), acceptor_(io), grace_timer_(io) {}

  std::vector<std::shared_ptr<detail::Connection>> live_connections() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<detail::Connection>> out;
    for (auto& w : connections_)
      if (auto c = w.lock()) out.push_back(std::move(c));
    return out;
  }

  void accept() {
    if (port_ == 0) port_ = acceptor_.local_endpoint().port();
    acceptor_.async_accept(io_, [this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec || stopping_) return;  // acceptor closed
      size_t live;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        live = connections_.size();
      }
      if (live >= options_.max_connections) {
        ++stats_.connections_rejected;
        asio::error_code ignored;
        socket.close(ignored);
      } else {
        ++stats_.connections_accepted;
        auto c = std::make_shared<detail::Connection>(std::move(socket), *this);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          connections_.push_back(c);
        }
        c->start();
      }
      accept();
    });
  }

  asio::io_context& io_;
  ServiceOptions options_;
  std::unique_ptr<WorkerPool> pool_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer grace_timer_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  ServiceStats stats_;
  std::mutex mutex_;
  std::vector<std::weak_ptr<detail::Connection>> connections_;
};

// ------------------------------ Connection

namespace detail {

inline Connection::Connection(asio::ip::tcp::socket socket, TcpService& service)
    : socket_(std::move(socket)),
      service_(service),
      strand_(asio::make_strand(service.io())),
      idle_timer_(strand_),
      parser_(service.options().limits) {}

inline void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] {
    asio::error_code ignored;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    self->arm_idle_timer();
    self->read();
  });
}

inline void Connection::arm_idle_timer() {
  idle_timer_.expires_after(service_.options().idle_timeout);
  idle_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed_) return;
    if (self->inflight_ > 0 || !self->outbox_.empty()) return self->arm_idle_timer();  // busy, not idle
    ++self->service_.stats().connections_cut;
    self->close();
  });
}

inline void Connection::read() {
  if (reading_ || stop_reading_ || closed_) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(buffer_), asio::bind_executor(strand_, [self = shared_from_this()](
                                                                                    const asio::error_code& ec,
                                                                                    size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    if (ec) {
      // Peer closed or reset. A half-closed peer still gets the replies to the frames it sent; a frame cut in the
      // middle is dropped with the connection.
      if (!self->parser_.finish()) ++self->service_.stats().connections_cut;
      self->stop_reading_ = true;
      return self->close_if_done();
    }
    self->arm_idle_timer();
    self->pos_ = 0;
    self->len_ = n;
    self->process();
  }));
}

inline void Connection::process() {
  const size_t max_inflight = service_.options().max_inflight_per_connection;
  while (pos_ < len_ && !stop_reading_) {
    if (inflight_ >= max_inflight) return;  // resumed by send() when a reply goes out
    auto consumed = parser_.feed(buffer_.data() + pos_, len_ - pos_);
    if (!consumed) return fail(consumed.code());
    pos_ += *consumed;
    if (!parser_.has_frame()) continue;
    const wire::FrameView& frame = parser_.frame();
    auto payload = std::make_shared<std::vector<uint8_t>>(frame.payload, frame.payload + frame.header.payload_size);
    const wire::FrameHeader header = frame.header;
    ++inflight_;
    ++service_.stats().frames_received;
    service_.pool().submit([self = shared_from_this(), header, payload](decode::DecoderBackend& backend,
                                                                         std::vector<float>& scratch) {
      const Reply reply = decode_frame_to_reply(backend, header, payload->data(), payload->size(), scratch);
      if (reply.status != Errc::ok) ++self->service_.stats().frames_decode_failed;
      self->deliver(write_reply(reply));
    });
  }
  if (pos_ == len_) read();
}

inline void Connection::fail(Errc code) {
  ++service_.stats().connections_failed;
  stop_reading_ = true;
  Reply reply;
  reply.status = code;
  outbox_.push_back({write_reply(reply), false});
  write_next();
}

inline void Connection::deliver(const ReplyBytes& reply) {
  asio::post(strand_, [self = shared_from_this(), reply] {
    --self->inflight_;
    if (self->closed_) {
      ++self->service_.stats().frames_unanswered;
      return;
    }
    self->send(reply);
    if (!self->stop_reading_ && self->pos_ < self->len_) self->process();  // resume after back-pressure
  });
}

inline void Connection::send(const ReplyBytes& reply) {
  outbox_.push_back({reply, true});
  write_next();
}

inline void Connection::write_next() {
  if (writing_ || outbox_.empty() || closed_) return close_if_done();
  writing_ = true;
  asio::async_write(socket_, asio::buffer(outbox_.front().bytes),
                    asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec, size_t) {
                      self->writing_ = false;
                      if (self->closed_) return;
                      const bool answers_frame = self->outbox_.front().answers_frame;
                      self->outbox_.pop_front();
                      if (ec) {
                        ++self->service_.stats().connections_cut;
                        self->stop_reading_ = true;
                        return self->close();
                      }
                      if (answers_frame) ++self->service_.stats().frames_answered;
                      self->write_next();
                    }));
}

inline void Connection::close_if_done() {
  if (stop_reading_ && inflight_ == 0 && outbox_.empty() && !writing_) close();
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
    ++self->service_.stats().connections_cut;
    self->close();
  });
}

inline void Connection::close() {
  if (closed_) return;
  closed_ = true;
  stop_reading_ = true;
  asio::error_code ignored;
  idle_timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  service_.on_connection_closed(this);
}

}  // namespace detail
}  // namespace slimcodec::serve
