// The TCP decode service's listening side: accepts connections into a table of at most max_connections, charges
// each one's read buffer to the budget, backs off and re-arms accept after an accept error (EMFILE, ENFILE), and
// when the table is full lets a new client take the place of the slowest connection that is not waiting for a
// reply. shutdown() stops accepting, asks every connection to finish, and cuts those still open after the grace.
#pragma once

#include "slimcodec/common/alloc.hpp"
#include "slimcodec/server/tcp_connection.hpp"
#include "slimcodec/server/tcp_options.hpp"

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace slimcodec::server::detail {

class TcpAcceptor {
 public:
  // A connection younger than this gives way to a new client only when every other candidate is younger too.
  static constexpr std::chrono::milliseconds kEvictMinAge{1000};

  explicit TcpAcceptor(TcpContext& ctx)
      : ctx_(ctx), strand_(ctx.io), acceptor_(ctx.io), grace_timer_(ctx.io), accept_timer_(ctx.io) {}

  Result<void> listen(const std::string& bind_address, uint16_t port) {
    asio::error_code ec;
    auto address = asio::ip::make_address(bind_address, ec);
    if (ec) return Error{Errc::invalid_argument, "bad bind address"};
    asio::ip::tcp::endpoint endpoint(address, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{Errc::io_error, "cannot listen on the requested address and port"};
    port_ = acceptor_.local_endpoint(ec).port();
    return {};
  }

  void start() { accept(); }
  uint16_t port() const { return port_; }

  size_t connection_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_.size();
  }

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
      grace_timer_.expires_after(ctx_.options.shutdown_grace);
      grace_timer_.async_wait(asio::bind_executor(strand_, [this](const asio::error_code& ec) {
        if (ec) return;
        for (auto& c : live_connections()) c->cut();
      }));
    });
  }

  // Called by connections when they close; lets the grace timer go once the last one is gone.
  // Constant time: the connection knows its slot (a burst of 1,000 closes no longer scans 1,000 entries each).
  void on_connection_closed(const Connection* c) {
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
  // The table is full: the connection with the lowest average receive rate among those the service owes no reply
  // (none decoding, no reply being written) is cut for the new client, older ones (kEvictMinAge) first. Idle
  // connections and tricklers go first; a client waiting for its reply is never evicted. False when every
  // connection is owed a reply: the new client is refused.
  bool evict_slowest() {
    const auto now = std::chrono::steady_clock::now();
    std::shared_ptr<Connection> victim;
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
    ++ctx_.stats.connections_evicted;
    victim->cut();
    return true;
  }

  std::vector<std::shared_ptr<Connection>> live_connections() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<Connection>> out;
    for (auto& r : connections_)
      if (auto c = r.connection.lock()) out.push_back(std::move(c));
    return out;
  }

  void accept() {
    acceptor_.async_accept(ctx_.io, asio::bind_executor(strand_, [this](const asio::error_code& ec,
                                                                        asio::ip::tcp::socket socket) {
      if (stopping_ || ec == asio::error::operation_aborted) return;  // acceptor closed
      if (ec) {
        // EMFILE/ENFILE (out of descriptors), ENOBUFS, ECONNABORTED...: the listener is fine; try again after a
        // pause (an immediate retry would spin while the descriptors stay exhausted).
        ++ctx_.stats.accept_errors;
        accept_timer_.expires_after(ctx_.options.accept_backoff);
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
      if ((live >= ctx_.options.max_connections && !evict_slowest()) || !ctx_.pipeline.charge(kReadBufferBytes)) {
        ++ctx_.stats.connections_rejected;  // every slot owed a reply, or no budget left for its read buffer
        asio::error_code ignored;
        socket.close(ignored);
      } else {
        std::shared_ptr<Connection> c;
        const bool added = try_allocate([&] {
          c = std::make_shared<Connection>(std::move(socket), ctx_);
          std::lock_guard<std::mutex> lock(mutex_);
          c->slot_ = connections_.size();
          connections_.push_back({c.get(), c});
        });
        if (added) {
          ++ctx_.stats.connections_accepted;
          c->start();
        } else {
          ctx_.pipeline.release(kReadBufferBytes);
          ++ctx_.stats.connections_rejected;  // out of memory: the socket closes with c (or was never moved)
        }
      }
      accept();
    }));
  }

  TcpContext& ctx_;
  // Serialises the acceptor's and its timers' handlers: io may be run by several threads (decode_service
  // --io-threads). io_context::strand rather than asio::strand<>: see Connection::strand_.
  asio::io_context::strand strand_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer grace_timer_, accept_timer_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  struct Registered {
    const Connection* key;  // compared, never followed
    std::weak_ptr<Connection> connection;
  };
  std::vector<Registered> connections_;  // under mutex_
};

}  // namespace slimcodec::server::detail
