// FrameTransport over TCP (standalone Asio): frames out, replies (head, then the result section) back, every wait
// bounded. A reply cut by a timeout is kept and completed by the next receive_reply(); a send cut by a timeout
// breaks the stream.
#pragma once

#include "slimcodec/device/frame_transport.hpp"

#include <asio.hpp>

#include <memory>
#include <string>

namespace slimcodec::device {

class TcpTransport final : public FrameTransport {
 public:
  TcpTransport() : io_(std::make_unique<asio::io_context>()), socket_(std::make_unique<asio::ip::tcp::socket>(*io_)) {}

  Result<void> connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    asio::error_code ec;
    asio::ip::tcp::resolver resolver(*io_);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Error{Errc::io_error, "cannot resolve the server address"};
    asio::error_code result = asio::error::would_block;
    asio::async_connect(*socket_, endpoints, [&](const asio::error_code& e, const asio::ip::tcp::endpoint&) { result = e; });
    if (!run_until_done(result, timeout)) return Error{Errc::timed_out, "connect timed out"};
    if (result) return Error{Errc::io_error, "cannot connect to the server"};
    socket_->set_option(asio::ip::tcp::no_delay(true), ec);
    broken_ = false;
    return {};
  }

  Result<void> send_frame(const uint8_t* bytes, size_t n) override {
    if (broken_) return Error{Errc::io_error, "transport broken by an earlier failure"};
    asio::error_code result = asio::error::would_block;
    asio::async_write(*socket_, asio::buffer(bytes, n), [&](const asio::error_code& e, size_t) { result = e; });
    if (!run_until_done(result, kSendTimeout)) {
      broken_ = true;  // part of a frame may be out: the stream cannot be resynchronised
      return Error{Errc::timed_out, "send timed out"};
    }
    if (result) {
      broken_ = true;
      return Error{Errc::io_error, "send failed"};
    }
    return {};
  }

  Result<wire::Reply> receive_reply(std::chrono::milliseconds timeout) override {
    if (broken_) return Error{Errc::io_error, "transport broken by an earlier failure"};
    // The reply's head (kReplyHeadSize bytes) gives its whole size (the result section's length).
    size_t want = filled_ < wire::kReplyHeadSize ? wire::kReplyHeadSize : want_;
    while (filled_ < want) {
      asio::error_code result = asio::error::would_block;
      size_t got = 0;
      socket_->async_read_some(asio::buffer(reply_.data() + filled_, want - filled_),
                               [&](const asio::error_code& e, size_t n) {
                                 result = e;
                                 got = n;
                               });
      const auto start = std::chrono::steady_clock::now();
      if (!run_until_done(result, timeout)) return Error{Errc::timed_out, "no reply within the time limit"};
      if (result) {
        broken_ = true;
        return Error{Errc::io_error, "connection closed before a whole reply arrived"};
      }
      filled_ += got;
      if (filled_ == wire::kReplyHeadSize && want == wire::kReplyHeadSize) {
        auto size = wire::peek_reply_size(reply_.data(), filled_);
        if (!size) {
          broken_ = true;
          return size.error();
        }
        want = want_ = *size;
      }
      timeout -= std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      if (filled_ < want && timeout.count() <= 0) return Error{Errc::timed_out, "no reply within the time limit"};
    }
    filled_ = 0;
    auto reply = wire::parse_reply(reply_.data(), want);
    if (!reply) broken_ = true;
    return reply;
  }

  // Tells the server no more frames follow; replies to those sent still arrive.
  void finish_sending() {
    asio::error_code ignored;
    socket_->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }

  void close() {
    asio::error_code ignored;
    socket_->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_->close(ignored);
    broken_ = true;
  }

 private:
  // Runs the io_context until the operation's handler has set `result`, or cancels it after `timeout` (then
  // still runs until the handler has been called, so nothing refers to this stack frame afterwards).
  bool run_until_done(const asio::error_code& result, std::chrono::milliseconds timeout) {
    io_->restart();
    io_->run_for(timeout.count() > 0 ? timeout : std::chrono::milliseconds(0));
    if (result == asio::error::would_block) {
      asio::error_code ignored;
      socket_->cancel(ignored);
      io_->restart();
      io_->run();
      // The operation may have completed just before the cancel took effect.
      return result != asio::error::would_block && result != asio::error::operation_aborted;
    }
    return true;
  }

  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<asio::ip::tcp::socket> socket_;
  wire::ReplyBytes reply_{};
  size_t filled_ = 0, want_ = 0;  // bytes of the reply read so far; its whole size once the head is in
  bool broken_ = true;
  static constexpr std::chrono::milliseconds kSendTimeout{30000};  // a frame not out by then breaks the stream
};

}  // namespace slimcodec::device
