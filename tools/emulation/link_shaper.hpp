// Link emulation: a TCP proxy (device -> shaper -> decode service, standalone Asio) that forwards the device's
// direction at a bandwidth trace's rate through one token bucket refilled with the trace's exact integral and
// checked every time slice (a rate-0 stretch is a drop: nothing passes). Replies pass back unshaped: 44 bytes take
// well under a slice at any trace rate (docs/adaptive.md, "Link shaper").
#pragma once

#include <emulation/link_trace.hpp>

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace slimcodec::emulation {

struct ShaperOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: pick a free port (see LinkShaper::port())
  std::string upstream_host = "127.0.0.1";
  uint16_t upstream_port = 0;
  std::chrono::microseconds slice{1000};  // a connection with bytes waiting re-checks the bucket this often
  // A radio link does not bank idle time, so neither may the bucket: once a request was granted in full (nothing
  // waiting: the link went idle), it holds at most two slices at the current rate (at least burst_bytes). While
  // bytes wait, every token earned is kept, so late timer wake-ups on a loaded machine cost no throughput.
  double burst_bytes = 64;
  size_t read_chunk = 16 * 1024;          // bytes taken from the device per read: the proxy's only buffering
};

struct ShaperStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> upstream_failures{0};  // the decode service could not be reached
  std::atomic<uint64_t> bytes_up{0};           // device -> server, shaped
  std::atomic<uint64_t> bytes_down{0};         // server -> device
};

class LinkShaper;

namespace detail {

class ShapedConnection : public std::enable_shared_from_this<ShapedConnection> {
 public:
  ShapedConnection(asio::ip::tcp::socket device, LinkShaper& shaper);
  void start(const asio::ip::tcp::resolver::results_type& upstream);
  void close();  // any thread

 private:
  void pump_up();
  void pump_down();
  void close_now();

  LinkShaper& shaper_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::ip::tcp::socket device_, upstream_;
  asio::steady_timer timer_;
  std::vector<uint8_t> up_, down_ = std::vector<uint8_t>(4096);
  size_t up_pos_ = 0, up_len_ = 0;
  bool closed_ = false;
};

}  // namespace detail

// Runs on the caller's io_context (any number of threads). Destroy it only after that io_context has stopped.
class LinkShaper {
 public:
  using Clock = std::chrono::steady_clock;

  static Result<std::unique_ptr<LinkShaper>> create(asio::io_context& io, LinkTrace trace, ShaperOptions options) {
    if (options.slice.count() <= 0 || options.read_chunk == 0 || !(options.burst_bytes >= 1))
      return Error{Errc::invalid_argument, "shaper: slice, read_chunk and burst_bytes must be positive"};
    std::unique_ptr<LinkShaper> s(new LinkShaper(io, std::move(trace), std::move(options)));
    asio::error_code ec;
    asio::ip::tcp::resolver resolver(io);
    s->upstream_ = resolver.resolve(s->options_.upstream_host, std::to_string(s->options_.upstream_port), ec);
    if (ec) return Error{Errc::io_error, "shaper: cannot resolve the upstream address"};
    const auto address = asio::ip::make_address(s->options_.listen_address, ec);
    if (ec) return Error{Errc::invalid_argument, "shaper: bad listen address"};
    const asio::ip::tcp::endpoint endpoint(address, s->options_.listen_port);
    s->acceptor_.open(endpoint.protocol(), ec);
    if (!ec) s->acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) s->acceptor_.bind(endpoint, ec);
    if (!ec) s->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{Errc::io_error, "shaper: cannot listen on the requested address and port"};
    s->port_ = s->acceptor_.local_endpoint().port();
    return s;
  }

  uint16_t port() const { return port_; }
  const ShaperOptions& options() const { return options_; }
  ShaperStats& stats() { return stats_; }
  asio::io_context& io() { return io_; }

  // Starts accepting; the trace clock starts now.
  void start() {
    restart_trace();
    accept();
  }

  // Trace time 0 is now; the bucket empties. Optionally a new trace.
  void restart_trace() {
    std::lock_guard<std::mutex> lock(mutex_);
    epoch_ = Clock::now();
    tokens_ = 0;
    last_s_ = 0;
    backlogged_ = false;
  }
  void restart_trace(LinkTrace trace) {
    std::lock_guard<std::mutex> lock(mutex_);
    trace_ = std::move(trace);
    epoch_ = Clock::now();
    tokens_ = 0;
    last_s_ = 0;
    backlogged_ = false;
  }

  Clock::time_point trace_epoch() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return epoch_;
  }
  double trace_time_s() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return seconds_since_epoch();
  }
  double rate_now() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return trace_.rate_at(seconds_since_epoch());
  }

  // Stops accepting and closes every connection.
  void shutdown() {
    asio::post(acceptor_.get_executor(), [this] {
      asio::error_code ignored;
      acceptor_.close(ignored);
    });
    std::vector<std::shared_ptr<detail::ShapedConnection>> live;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& w : connections_)
        if (auto c = w.lock()) live.push_back(std::move(c));
      connections_.clear();
    }
    for (auto& c : live) c->close();
  }

  // ------------------------------ token bucket
  // Up to `want` bytes the link may carry now (0: wait a slice). Tokens accrue at the trace's rate, integrated
  // exactly over the time since the last call; idle time is not banked (see ShaperOptions::burst_bytes).
  size_t take(size_t want) {
    std::lock_guard<std::mutex> lock(mutex_);
    const double now = seconds_since_epoch();
    if (now > last_s_) {
      tokens_ += trace_.bytes_between(last_s_, now);
      if (!backlogged_) {
        const double slice_s = std::chrono::duration<double>(options_.slice).count();
        tokens_ = std::min(tokens_, std::max(options_.burst_bytes, 2.0 * slice_s * trace_.rate_at(now)));
      }
      last_s_ = now;
    }
    const size_t grant = size_t(std::min(std::floor(tokens_), double(want)));
    tokens_ -= double(grant);
    backlogged_ = grant < want;
    return grant;
  }

 private:
  friend class detail::ShapedConnection;

  LinkShaper(asio::io_context& io, LinkTrace trace, ShaperOptions options)
      : io_(io), trace_(std::move(trace)), options_(std::move(options)), acceptor_(io), epoch_(Clock::now()) {}

  double seconds_since_epoch() const { return std::chrono::duration<double>(Clock::now() - epoch_).count(); }

  void accept() {
    acceptor_.async_accept(io_, [this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec) return;  // acceptor closed
      ++stats_.connections;
      auto c = std::make_shared<detail::ShapedConnection>(std::move(socket), *this);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        connections_.erase(std::remove_if(connections_.begin(), connections_.end(),
                                          [](const std::weak_ptr<detail::ShapedConnection>& w) { return w.expired(); }),
                           connections_.end());
        connections_.push_back(c);
      }
      c->start(upstream_);
      accept();
    });
  }

  asio::io_context& io_;
  LinkTrace trace_;
  ShaperOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::resolver::results_type upstream_;
  uint16_t port_ = 0;
  ShaperStats stats_;
  mutable std::mutex mutex_;
  Clock::time_point epoch_;
  double tokens_ = 0, last_s_ = 0;
  bool backlogged_ = false;  // the last request got less than it asked for: bytes are waiting
  std::vector<std::weak_ptr<detail::ShapedConnection>> connections_;
};

// ------------------------------ ShapedConnection

namespace detail {

inline ShapedConnection::ShapedConnection(asio::ip::tcp::socket device, LinkShaper& shaper)
    : shaper_(shaper),
      strand_(asio::make_strand(shaper.io())),
      device_(std::move(device)),
      upstream_(strand_),
      timer_(strand_),
      up_(shaper.options().read_chunk) {}

inline void ShapedConnection::start(const asio::ip::tcp::resolver::results_type& upstream) {
  asio::async_connect(upstream_, upstream,
                      asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec,
                                                                                const asio::ip::tcp::endpoint&) {
                        if (ec) {
                          ++self->shaper_.stats().upstream_failures;
                          return self->close_now();
                        }
                        asio::error_code ignored;
                        self->device_.set_option(asio::ip::tcp::no_delay(true), ignored);
                        self->upstream_.set_option(asio::ip::tcp::no_delay(true), ignored);
                        self->pump_up();
                        self->pump_down();
                      }));
}

// Device -> server: read a chunk, then release it in bucket-sized pieces.
inline void ShapedConnection::pump_up() {
  if (closed_) return;
  if (up_pos_ == up_len_) {
    device_.async_read_some(asio::buffer(up_), asio::bind_executor(strand_, [self = shared_from_this()](
                                                                               const asio::error_code& ec, size_t n) {
      if (self->closed_) return;
      if (ec) {  // the device finished sending (or went away): pass the end on, replies may still come back
        asio::error_code ignored;
        self->upstream_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        return;
      }
      self->up_pos_ = 0;
      self->up_len_ = n;
      self->pump_up();
    }));
    return;
  }
  const size_t grant = shaper_.take(up_len_ - up_pos_);
  if (grant == 0) {
    timer_.expires_after(shaper_.options().slice);
    timer_.async_wait(asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->pump_up();
    }));
    return;
  }
  asio::async_write(upstream_, asio::buffer(up_.data() + up_pos_, grant),
                    asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                      if (self->closed_) return;
                      if (ec) return self->close_now();
                      self->up_pos_ += n;
                      self->shaper_.stats().bytes_up += n;
                      self->pump_up();
                    }));
}

// Server -> device, unshaped. The server closing ends the connection.
inline void ShapedConnection::pump_down() {
  if (closed_) return;
  upstream_.async_read_some(asio::buffer(down_), asio::bind_executor(strand_, [self = shared_from_this()](
                                                                                 const asio::error_code& ec, size_t n) {
    if (self->closed_) return;
    if (ec) return self->close_now();
    asio::async_write(self->device_, asio::buffer(self->down_.data(), n),
                      asio::bind_executor(self->strand_, [self](const asio::error_code& ec2, size_t m) {
                        if (self->closed_) return;
                        if (ec2) return self->close_now();
                        self->shaper_.stats().bytes_down += m;
                        self->pump_down();
                      }));
  }));
}

inline void ShapedConnection::close() {
  asio::post(strand_, [self = shared_from_this()] { self->close_now(); });
}

inline void ShapedConnection::close_now() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ignored;
  timer_.cancel();
  device_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  device_.close(ignored);
  upstream_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  upstream_.close(ignored);
}

}  // namespace detail
}  // namespace slimcodec::emulation
