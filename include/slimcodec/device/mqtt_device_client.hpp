// The device side of the MQTT transport (docs/mqtt.md): publishes frames (Response Topic, frame id as Correlation Data)
// and receives replies. End-to-end at-least-once over hop-by-hop QoS 1: unanswered frames are re-published after a
// timeout, and replies are deduplicated by frame id, so the application sees exactly one reply per frame.
#pragma once

#include "slimcodec/mqtt/connection.hpp"
#include "slimcodec/mqtt/conventions.hpp"
#include "slimcodec/wire/reply.hpp"  // server:: names for wire/reply.hpp
#include "slimcodec/wire/parser.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace slimcodec::device {

struct MqttDeviceOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string device_id;  // one topic level, [A-Za-z0-9._-]{1,64}; unique per device
  std::string client_id;  // empty: a unique "slimcodec-device-..." id
  std::string topic_prefix = std::string(mqtt::kDefaultPrefix);
  std::chrono::milliseconds reply_timeout{2000};  // re-publish a frame unanswered this long after its last publish
  unsigned max_attempts = 5;  // publishes per frame before giving it up; 0: never give up
  size_t max_pending = 64;    // unanswered frames kept (a copy of each); publish() refuses more
  int keepalive_s = 30;
  std::chrono::milliseconds connect_timeout{5000};
};

struct DeviceReply {
  wire::Reply reply;           // as the decode service sent it
  unsigned attempts = 1;  // publishes this frame took; > 1: it needed a re-publish
  std::chrono::microseconds round_trip{0};  // first publish to reply
  bool gave_up = false;  // no reply after max_attempts: reply has only frame_id, timestamp_us and status io_error
};

struct MqttDeviceStats {
  std::atomic<uint64_t> frames_published{0};    // distinct frames
  std::atomic<uint64_t> republished{0};         // extra publishes after a reply timeout
  std::atomic<uint64_t> frames_republished{0};  // answered frames that needed at least one re-publish
  std::atomic<uint64_t> replies{0};             // first reply per frame, handed to receive()
  std::atomic<uint64_t> duplicate_replies{0};   // replies for frames already answered (or unknown): dropped
  std::atomic<uint64_t> bad_replies{0};         // not a valid 44-byte reply
  std::atomic<uint64_t> given_up{0};
};

class MqttDeviceClient {
 public:
  // Connects and subscribes to this device's reply topic (returns after SUBACK, so no reply can be missed).
  static Result<std::unique_ptr<MqttDeviceClient>> connect(MqttDeviceOptions options) {
    if (!mqtt::valid_level(options.device_id)) return Error{Errc::invalid_argument, "bad device id"};
    if (!mqtt::valid_prefix(options.topic_prefix)) return Error{Errc::invalid_argument, "bad MQTT topic prefix"};
    if (options.reply_timeout.count() <= 0 || options.max_pending == 0)
      return Error{Errc::invalid_argument, "reply_timeout and max_pending must be positive"};
    if (options.client_id.empty()) options.client_id = mqtt::unique_client_id("device-" + options.device_id);
    std::unique_ptr<MqttDeviceClient> client(new MqttDeviceClient(std::move(options)));

    mqtt::ConnectOptions connect;
    connect.host = client->options_.host;
    connect.port = client->options_.port;
    connect.client_id = client->options_.client_id;
    connect.keepalive_s = client->options_.keepalive_s;
    connect.connect_timeout = client->options_.connect_timeout;
    mqtt::Connection::Handlers handlers;
    MqttDeviceClient* self = client.get();
    handlers.on_message = [self](const mqtt::Message& m) { self->on_reply(m); };
    auto connection = mqtt::Connection::open(connect, std::move(handlers));
    if (!connection) return connection.error();
    client->connection_ = std::move(*connection);
    if (auto sub = client->connection_->subscribe(client->reply_topic_, 1); !sub) return sub.error();
    client->resender_ = std::thread([self] { self->resend_loop(); });
    return client;
  }

  ~MqttDeviceClient() { close(); }

  // Publishes one whole frame (its id, from the header, must not be pending). Refuses an invalid frame, and more than
  // max_pending unanswered frames (buffer_too_small: receive() first). Thread-safe.
  Result<void> publish(const uint8_t* frame, size_t size) {
    auto view = wire::parse_frame(frame, size);
    if (!view) return view.error();
    if (view->frame_size != size) return Error{Errc::length_mismatch, "bytes after the frame: one frame per message"};
    const uint32_t id = view->header.frame_id;
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return Error{Errc::io_error, "device client closed"};
    if (pending_.count(id) != 0) return Error{Errc::invalid_argument, "a frame with this id is still unanswered"};
    if (pending_.size() >= options_.max_pending) return Error{Errc::buffer_too_small, "max_pending frames unanswered"};
    Pending& p = pending_[id];
    p.bytes.assign(frame, frame + size);
    p.timestamp_us = view->header.timestamp_us;
    p.first_sent = p.last_sent = std::chrono::steady_clock::now();
    if (auto sent = send(id, p.bytes); !sent) {
      pending_.erase(id);
      return sent;
    }
    ++stats_.frames_published;
    return {};
  }

  // The next reply, each frame's first only; std::nullopt when none came within `timeout`; io_error once closed.
  Result<std::optional<DeviceReply>> receive(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_cv_.wait_for(lock, timeout, [&] { return !ready_.empty() || stopping_; });
    if (!ready_.empty()) {
      std::optional<DeviceReply> out(ready_.front());
      ready_.pop_front();
      return out;
    }
    if (stopping_) return Error{Errc::io_error, "device client closed"};
    return std::optional<DeviceReply>{};
  }

  size_t pending() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return pending_.size();
  }

  bool connected() const { return connection_ && connection_->connected(); }
  const MqttDeviceStats& stats() const { return stats_; }
  const std::string& reply_topic() const { return reply_topic_; }

  // Stops re-publishing and disconnects; frames still pending stay unanswered. Idempotent.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    resend_cv_.notify_all();
    ready_cv_.notify_all();
    if (resender_.joinable()) resender_.join();
    if (connection_) connection_->close();
  }

 private:
  struct Pending {
    std::vector<uint8_t> bytes;
    uint64_t timestamp_us = 0;
    std::chrono::steady_clock::time_point first_sent, last_sent;
    unsigned attempts = 1;
  };

  explicit MqttDeviceClient(MqttDeviceOptions options)
      : options_(std::move(options)),
        frame_topic_(mqtt::frame_topic(options_.topic_prefix, options_.device_id)),
        reply_topic_(mqtt::reply_topic(options_.topic_prefix, options_.device_id)) {}

  // One QoS 1 publish of a pending frame, with the properties workers answer to. Caller holds mutex_.
  Result<void> send(uint32_t id, const std::vector<uint8_t>& bytes) {
    mosquitto_property* raw = nullptr;
    const mqtt::Correlation correlation = mqtt::correlation(id);
    int rc = mosquitto_property_add_string(&raw, MQTT_PROP_RESPONSE_TOPIC, reply_topic_.c_str());
    if (rc == MOSQ_ERR_SUCCESS)
      rc = mosquitto_property_add_binary(&raw, MQTT_PROP_CORRELATION_DATA, correlation.data(), uint16_t(correlation.size()));
    const mqtt::Properties props(raw);
    if (rc != MOSQ_ERR_SUCCESS) return mqtt::detail::mosquitto_error(rc);
    auto mid = connection_->publish(frame_topic_, bytes.data(), bytes.size(), 1, props.get());
    if (!mid) return mid.error();
    return {};
  }

  // Network thread: a reply arrived. The first per pending frame is handed out; any later one is a duplicate.
  void on_reply(const mqtt::Message& m) {
    if (m.topic == nullptr || reply_topic_ != m.topic) return;
    auto reply = wire::parse_reply(m.payload, m.size);  // one reply per message: its size must be the message's
    if (reply && wire::reply_size(reply->detection_count) != m.size) reply = Result<wire::Reply>(Errc::length_mismatch);
    if (!reply) return void(++stats_.bad_replies);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = pending_.find(reply->frame_id);
      if (it == pending_.end()) return void(++stats_.duplicate_replies);
      DeviceReply out;
      out.reply = *reply;
      out.attempts = it->second.attempts;
      out.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                             it->second.first_sent);
      if (out.attempts > 1) ++stats_.frames_republished;
      pending_.erase(it);
      ready_.push_back(out);
      ++stats_.replies;
    }
    ready_cv_.notify_all();
  }

  // Re-publishes frames whose reply is overdue, gives up after max_attempts. Its own thread: a device that is busy
  // encoding (not calling receive) still recovers frames lost with a worker.
  void resend_loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      const auto now = std::chrono::steady_clock::now();
      auto next = now + options_.reply_timeout;
      bool gave_up = false;
      for (auto it = pending_.begin(); it != pending_.end();) {
        Pending& p = it->second;
        auto due = p.last_sent + options_.reply_timeout;
        if (due <= now) {
          if (options_.max_attempts != 0 && p.attempts >= options_.max_attempts) {
            DeviceReply out;
            out.reply.status = Errc::io_error;
            out.reply.frame_id = it->first;
            out.reply.timestamp_us = p.timestamp_us;
            out.attempts = p.attempts;
            out.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(now - p.first_sent);
            out.gave_up = true;
            ready_.push_back(out);
            ++stats_.given_up;
            gave_up = true;
            it = pending_.erase(it);
            continue;
          }
          ++p.attempts;
          p.last_sent = now;
          ++stats_.republished;
          (void)send(it->first, p.bytes);  // a refused publish is retried at the next timeout
          due = now + options_.reply_timeout;
        }
        next = std::min(next, due);
        ++it;
      }
      if (gave_up) ready_cv_.notify_all();
      resend_cv_.wait_until(lock, next);
    }
  }

  MqttDeviceOptions options_;
  std::string frame_topic_, reply_topic_;
  std::unique_ptr<mqtt::Connection> connection_;
  MqttDeviceStats stats_;
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_, resend_cv_;
  std::map<uint32_t, Pending> pending_;
  std::deque<DeviceReply> ready_;
  bool stopping_ = false;
  std::thread resender_;
};

}  // namespace slimcodec::device
