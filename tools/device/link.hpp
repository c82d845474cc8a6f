// slimcodec-device's link to the decode service: a FrameTransport that reconnects. TCP (device/tcp_transport.hpp)
// to slimcodec-decode-service, or MQTT 5 through a broker (device/mqtt_transport.hpp). When the server is down or
// unreachable it says so in one line, retries with exponential backoff (100 ms doubling to 5 s), and says when it
// is back; nothing accumulates meanwhile (the caller drops or holds its frame).
#pragma once

#include <slimcodec/device/tcp_transport.hpp>
#ifdef SLIMCODEC_HAVE_MQTT
#include <slimcodec/device/mqtt_transport.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace slimcodec_device {

class Link : public slimcodec::device::FrameTransport {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Link(std::string name) : name_(std::move(name)) {}

  // True when the link is up. When it is down and the backoff has elapsed, tries to connect first.
  bool ensure() {
    if (up_) return true;
    if (Clock::now() < next_attempt_) return false;
    std::string why;
    if (connect(why)) {
      if (was_up_) {
        ++reconnects_;
        std::fprintf(stderr, "slimcodec-device: reconnected to %s\n", name_.c_str());
      } else if (reported_) {
        std::fprintf(stderr, "slimcodec-device: connected to %s\n", name_.c_str());
      }
      up_ = was_up_ = true;
      reported_ = false;
      backoff_ = kFirstBackoff;
      return true;
    }
    if (!reported_) {
      std::fprintf(stderr, "slimcodec-device: %s unreachable (%s); retrying with backoff\n", name_.c_str(), why.c_str());
      reported_ = true;
    }
    next_attempt_ = Clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    return false;
  }

  bool up() const { return up_; }
  Clock::time_point next_attempt() const { return next_attempt_; }
  size_t reconnects() const { return reconnects_; }

  slimcodec::Result<void> send_frame(const uint8_t* bytes, size_t n) override {
    if (!up_) return slimcodec::Error{slimcodec::Errc::io_error, "not connected"};
    auto sent = transport().send_frame(bytes, n);
    if (!sent && lost(sent.code())) down(sent.error().what());
    return sent;
  }

  slimcodec::Result<slimcodec::wire::Reply> receive_reply(std::chrono::milliseconds timeout) override {
    if (!up_) return slimcodec::Error{slimcodec::Errc::io_error, "not connected"};
    auto reply = transport().receive_reply(timeout);
    if (!reply && reply.code() != slimcodec::Errc::timed_out) down(reply.error().what());
    return reply;
  }

  virtual void close() = 0;

 protected:
  virtual bool connect(std::string& why) = 0;
  virtual slimcodec::device::FrameTransport& transport() = 0;
  virtual bool lost(slimcodec::Errc code) const { return code == slimcodec::Errc::io_error || code == slimcodec::Errc::timed_out; }

  void down(const char* why) {
    if (up_) {
      std::fprintf(stderr, "slimcodec-device: lost %s (%s); reconnecting\n", name_.c_str(), why);
      reported_ = true;
    }
    up_ = false;
    close();
    next_attempt_ = Clock::now();  // the first retry at once, then the backoff
  }

 private:
  static constexpr std::chrono::milliseconds kFirstBackoff{100}, kMaxBackoff{5000};
  std::string name_;
  bool up_ = false, was_up_ = false, reported_ = false;
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  Clock::time_point next_attempt_{};
  size_t reconnects_ = 0;
};

class TcpLink final : public Link {
 public:
  TcpLink(std::string host, uint16_t port)
      : Link("decode service " + host + ":" + std::to_string(port)), host_(std::move(host)), port_(port) {}
  ~TcpLink() override { close(); }
  void close() override {
    if (tcp_) tcp_->close();
  }

 private:
  bool connect(std::string& why) override {
    tcp_ = std::make_unique<slimcodec::device::TcpTransport>();  // a fresh one: no half-read reply carried over
    auto c = tcp_->connect(host_, port_, std::chrono::seconds(3));
    if (!c) why = c.error().what();
    return bool(c);
  }
  slimcodec::device::FrameTransport& transport() override { return *tcp_; }

  std::string host_;
  uint16_t port_;
  std::unique_ptr<slimcodec::device::TcpTransport> tcp_;
};

#ifdef SLIMCODEC_HAVE_MQTT
class MqttLink final : public Link {
 public:
  explicit MqttLink(slimcodec::device::MqttDeviceOptions options)
      : Link("MQTT broker " + options.host + ":" + std::to_string(options.port)), options_(std::move(options)) {}
  ~MqttLink() override { close(); }
  void close() override {
    transport_.reset();
    if (client_) client_->close();
    client_.reset();
  }

 private:
  bool connect(std::string& why) override {
    auto client = slimcodec::device::MqttDeviceClient::connect(options_);
    if (!client) return why = client.error().what(), false;
    client_ = std::move(*client);
    transport_ = std::make_unique<slimcodec::device::MqttTransport>(*client_);
    return true;
  }
  slimcodec::device::FrameTransport& transport() override { return *transport_; }
  // A full queue of unanswered frames is the link's trouble too: start over with an empty one.
  bool lost(slimcodec::Errc code) const override {
    return code == slimcodec::Errc::io_error || code == slimcodec::Errc::buffer_too_small;
  }

  slimcodec::device::MqttDeviceOptions options_;
  std::unique_ptr<slimcodec::device::MqttDeviceClient> client_;
  std::unique_ptr<slimcodec::device::MqttTransport> transport_;
};
#endif

}  // namespace slimcodec_device
