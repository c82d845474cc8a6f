// A blocking TCP client for the decode service: send frames, read replies. What a device (or a test) uses.
#pragma once

#include <slimcodec/serve/reply.hpp>  // serve:: names for wire/reply.hpp

#include <asio.hpp>

#include <memory>
#include <string>

namespace slimcodec::serve {

class TcpClient {
 public:
  TcpClient() : io_(std::make_unique<asio::io_context>()), socket_(*io_) {}

  Result<void> connect(const std::string& host, uint16_t port) {
    asio::error_code ec;
    asio::ip::tcp::resolver resolver(*io_);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (!ec) asio::connect(socket_, endpoints, ec);
    if (ec) return Error{Errc::io_error, "cannot connect to the decode service"};
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    return {};
  }

  Result<void> send(const uint8_t* bytes, size_t n) {
    asio::error_code ec;
    asio::write(socket_, asio::buffer(bytes, n), ec);
    if (ec) return Error{Errc::io_error, "send failed"};
    return {};
  }

  // Blocks until one whole reply has arrived; io_error when the service closed the connection.
  Result<Reply> receive() {
    ReplyBytes bytes;
    asio::error_code ec;
    asio::read(socket_, asio::buffer(bytes.data(), wire::kReplyHeadSize), ec);  // the head sizes the reply
    if (ec) return Error{Errc::io_error, "connection closed before a whole reply arrived"};
    auto size = wire::peek_reply_size(bytes.data(), wire::kReplyHeadSize);
    if (!size) return size.error();
    asio::read(socket_, asio::buffer(bytes.data() + wire::kReplyHeadSize, *size - wire::kReplyHeadSize), ec);
    if (ec) return Error{Errc::io_error, "connection closed before a whole reply arrived"};
    return parse_reply(bytes.data(), *size);
  }

  // Tells the service no more frames follow; replies to those sent still arrive.
  void finish_sending() {
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }

  void close() {
    asio::error_code ignored;
    socket_.close(ignored);
  }

 private:
  std::unique_ptr<asio::io_context> io_;  // owned so a client can be moved
  asio::ip::tcp::socket socket_;
};

}  // namespace slimcodec::serve
