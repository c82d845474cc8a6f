// RAII over one libmosquitto client speaking MQTT 5 with its own network thread (mosquitto_loop_start):
// connect and wait for CONNACK, subscribe/unsubscribe and wait for the broker's acknowledgement, publish with
// MQTT 5 properties. Shared by the MQTT decode service and the MQTT device client (docs/mqtt.md).
#pragma once

#include "slimcodec/common/result.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace slimcodec::mqtt {

struct ConnectOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string client_id;  // must be unique on the broker: a second client with the same id takes the session over
  int keepalive_s = 30;
  bool clean_start = true;        // with session_expiry_s == 0 the broker forgets this client once it is gone
  uint32_t session_expiry_s = 0;  // > 0 (with clean_start false): a persistent session, see docs/mqtt.md
  std::chrono::milliseconds connect_timeout{5000};  // CONNACK after TCP connect (which has the OS timeout)
  std::chrono::milliseconds ack_timeout{5000};      // SUBACK, UNSUBACK
  unsigned reconnect_delay_s = 1, reconnect_delay_max_s = 8;  // after a lost connection libmosquitto retries
  bool tcp_nodelay = true;  // small messages (replies: 44 bytes) go out at once instead of waiting for Nagle
};

// A message as libmosquitto delivers it; valid only during the on_message call (freed afterwards).
struct Message {
  const char* topic = nullptr;
  const uint8_t* payload = nullptr;
  size_t size = 0;
  int qos = 0;
  bool retain = false;
  const mosquitto_property* properties = nullptr;  // MQTT 5 properties, may be null
};

// Owns a property list built with mosquitto_property_add_*.
struct MqttPropertiesDeleter {
  void operator()(mosquitto_property* p) const { mosquitto_property_free_all(&p); }
};
using Properties = std::unique_ptr<mosquitto_property, MqttPropertiesDeleter>;

// The Response Topic property of a received message, if present.
inline std::optional<std::string> read_response_topic(const mosquitto_property* props) {
  char* value = nullptr;
  if (props == nullptr || !mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &value, false))
    return std::nullopt;
  std::unique_ptr<char, decltype(&std::free)> owned(value, &std::free);  // libmosquitto allocates with malloc
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// The Correlation Data property of a received message, if present (may be empty).
inline std::optional<std::vector<uint8_t>> read_correlation_data(const mosquitto_property* props) {
  void* value = nullptr;
  uint16_t size = 0;
  if (props == nullptr ||
      !mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &value, &size, false))
    return std::nullopt;
  std::unique_ptr<void, decltype(&std::free)> owned(value, &std::free);
  const auto* bytes = static_cast<const uint8_t*>(value);
  return bytes == nullptr ? std::vector<uint8_t>{} : std::vector<uint8_t>(bytes, bytes + size);
}

// A client id no other process or connection is likely to use: "slimcodec-<role>-<pid>-<n>-<random>".
// Two clients with one id would keep taking the session from each other.
inline std::string unique_client_id(const std::string& role) {
  static std::atomic<unsigned> counter{0};
  std::random_device entropy;
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, "-%ld-%u-%08x", long(getpid()), counter++, unsigned(entropy()));
  return "slimcodec-" + role + suffix;
}

namespace detail {

// mosquitto_lib_init is not thread-safe and must run once per process: a function-local static does exactly that.
inline bool mosquitto_library_ready() {
  struct Library {
    int rc = mosquitto_lib_init();
    ~Library() {
      if (rc == MOSQ_ERR_SUCCESS) mosquitto_lib_cleanup();
    }
  };
  static Library library;
  return library.rc == MOSQ_ERR_SUCCESS;
}

// An Error's detail must be a static string. mosquitto_strerror gives one for every code but MOSQ_ERR_ERRNO, where it
// returns strerror(errno), a buffer the next call may overwrite: name the usual errno values ourselves.
inline Error mosquitto_error(int rc) {
  if (rc != MOSQ_ERR_ERRNO) return Error{Errc::io_error, mosquitto_strerror(rc)};
  switch (errno) {
    case ECONNREFUSED: return Error{Errc::io_error, "connection refused by the MQTT broker's address"};
    case ETIMEDOUT: return Error{Errc::io_error, "connection to the MQTT broker timed out"};
    case EHOSTUNREACH:
    case ENETUNREACH: return Error{Errc::io_error, "MQTT broker unreachable"};
    default: return Error{Errc::io_error, "system error talking to the MQTT broker"};
  }
}

}  // namespace detail

class Connection {
 public:
  // All handlers run on the network thread and must not block for long (keepalive and acknowledgements wait).
  struct Handlers {
    // A message arrived. For QoS 1 libmosquitto has already queued the PUBACK: returning does not confirm anything.
    std::function<void(const Message&)> on_message;
    // The broker acknowledged (PUBACK) one of our QoS 1 messages; reason_code >= 0x80 means it refused it.
    std::function<void(int mid, int reason_code)> on_publish;
    // The connection came up (true; subscriptions are already being renewed) or went down (false).
    std::function<void(bool connected)> on_connection;
  };

  // Connects (blocking TCP connect), starts the network thread and waits up to connect_timeout for CONNACK.
  static Result<std::unique_ptr<Connection>> open(const ConnectOptions& options, Handlers handlers) {
    if (options.client_id.empty()) return Error{Errc::invalid_argument, "MQTT client id is empty"};
    if (options.port == 0) return Error{Errc::invalid_argument, "MQTT port is 0"};
    if (!detail::mosquitto_library_ready()) return Error{Errc::io_error, "mosquitto_lib_init failed"};
    std::unique_ptr<Connection> c(new Connection(options, std::move(handlers)));
    c->mosq_ = mosquitto_new(options.client_id.c_str(), options.clean_start, c.get());
    if (c->mosq_ == nullptr) return Error{Errc::io_error, "mosquitto_new failed"};
    mosquitto_int_option(c->mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(c->mosq_, MOSQ_OPT_TCP_NODELAY, options.tcp_nodelay ? 1 : 0);
    mosquitto_connect_v5_callback_set(c->mosq_, &Connection::on_connect_cb);
    mosquitto_disconnect_v5_callback_set(c->mosq_, &Connection::on_disconnect_cb);
    mosquitto_message_v5_callback_set(c->mosq_, &Connection::on_message_cb);
    mosquitto_publish_v5_callback_set(c->mosq_, &Connection::on_publish_cb);
    mosquitto_subscribe_v5_callback_set(c->mosq_, &Connection::on_subscribe_cb);
    mosquitto_unsubscribe_v5_callback_set(c->mosq_, &Connection::on_unsubscribe_cb);
    mosquitto_reconnect_delay_set(c->mosq_, options.reconnect_delay_s, options.reconnect_delay_max_s, true);

    mosquitto_property* raw = nullptr;
    if (options.session_expiry_s > 0)
      mosquitto_property_add_int32(&raw, MQTT_PROP_SESSION_EXPIRY_INTERVAL, options.session_expiry_s);
    Properties connect_props(raw);
    int rc = mosquitto_connect_bind_v5(c->mosq_, options.host.c_str(), options.port, options.keepalive_s, nullptr,
                                       connect_props.get());
    if (rc != MOSQ_ERR_SUCCESS) return detail::mosquitto_error(rc);
    rc = mosquitto_loop_start(c->mosq_);
    if (rc != MOSQ_ERR_SUCCESS) return detail::mosquitto_error(rc);
    c->loop_started_ = true;

    std::unique_lock<std::mutex> lock(c->mutex_);
    if (!c->changed_.wait_for(lock, options.connect_timeout, [&] { return c->connack_ != kNoAnswer; }))
      return Error{Errc::io_error, "no CONNACK from the MQTT broker in time"};
    if (c->connack_ != 0) return Error{Errc::io_error, mosquitto_reason_string(c->connack_)};
    return c;
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ~Connection() {
    close();
    if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  }

  // Subscribes and waits for SUBACK; the subscription is renewed after every reconnect. Fails when the broker
  // refuses it or grants a lower QoS than asked (that would silently weaken the delivery guarantee).
  Result<void> subscribe(const std::string& filter, int qos) {
    std::unique_lock<std::mutex> lock(mutex_);
    int mid = 0;
    const int rc = mosquitto_subscribe_v5(mosq_, &mid, filter.c_str(), qos, 0, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) return detail::mosquitto_error(rc);
    auto answer = wait_for_ack(lock, mid);
    if (!answer) return Error{Errc::io_error, "no SUBACK from the MQTT broker in time"};
    if (*answer >= 0x80) return Error{Errc::io_error, "the MQTT broker refused the subscription"};
    if (*answer < qos) return Error{Errc::io_error, "the MQTT broker granted a lower QoS than asked"};
    subscriptions_.emplace_back(filter, qos);
    return {};
  }

  // Unsubscribes and waits for UNSUBACK: after it the broker routes no new messages here (already queued ones
  // still arrive).
  Result<void> unsubscribe(const std::string& filter) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (auto it = subscriptions_.begin(); it != subscriptions_.end();)
      it = it->first == filter ? subscriptions_.erase(it) : it + 1;
    int mid = 0;
    const int rc = mosquitto_unsubscribe_v5(mosq_, &mid, filter.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) return detail::mosquitto_error(rc);
    if (!wait_for_ack(lock, mid)) return Error{Errc::io_error, "no UNSUBACK from the MQTT broker in time"};
    return {};
  }

  // Queues one message and returns its id. QoS 1 messages stay queued in libmosquitto (re-sent after a reconnect)
  // until the broker's PUBACK (Handlers::on_publish). Thread-safe.
  Result<int> publish(const std::string& topic, const void* payload, size_t size, int qos,
                      const mosquitto_property* properties = nullptr) {
    if (size > size_t(INT_MAX)) return Error{Errc::invalid_argument, "MQTT payload too large"};
    int mid = 0;
    const int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), int(size), payload, qos, false, properties);
    if (rc != MOSQ_ERR_SUCCESS) return detail::mosquitto_error(rc);
    return mid;
  }

  bool connected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connected_;
  }

  const std::string& client_id() const { return options_.client_id; }

  // Sends DISCONNECT after everything already queued, then stops the network thread: no handler runs after this
  // returns. Idempotent.
  void close() {
    if (mosq_ == nullptr || !loop_started_) return;
    loop_started_ = false;
    mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    mosquitto_loop_stop(mosq_, false);
    std::lock_guard<std::mutex> lock(mutex_);
    connected_ = false;
  }

 private:
  static constexpr int kNoAnswer = -1;

  Connection(ConnectOptions options, Handlers handlers)
      : options_(std::move(options)), handlers_(std::move(handlers)) {}

  // Waits (lock held by the caller since the request, so the callback cannot record the answer too early).
  std::optional<int> wait_for_ack(std::unique_lock<std::mutex>& lock, int mid) {
    acks_[mid] = kNoAnswer;
    const bool answered = changed_.wait_for(lock, options_.ack_timeout, [&] { return acks_[mid] != kNoAnswer; });
    const int answer = acks_[mid];
    acks_.erase(mid);
    if (!answered) return std::nullopt;
    return answer;
  }

  void record_ack(int mid, int answer) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = acks_.find(mid);
      if (it == acks_.end()) return;  // a renewal after reconnect: nobody waits for it
      it->second = answer;
    }
    changed_.notify_all();
  }

  static Connection& self(void* obj) { return *static_cast<Connection*>(obj); }

  static void on_connect_cb(mosquitto* mosq, void* obj, int rc, int, const mosquitto_property*) {
    Connection& c = self(obj);
    std::vector<std::pair<std::string, int>> renew;
    {
      std::lock_guard<std::mutex> lock(c.mutex_);
      c.connack_ = rc;
      c.connected_ = rc == 0;
      if (rc == 0) renew = c.subscriptions_;
    }
    c.changed_.notify_all();
    if (rc != 0) return;
    for (const auto& s : renew) mosquitto_subscribe_v5(mosq, nullptr, s.first.c_str(), s.second, 0, nullptr);
    if (c.handlers_.on_connection) c.handlers_.on_connection(true);
  }

  static void on_disconnect_cb(mosquitto*, void* obj, int, const mosquitto_property*) {
    Connection& c = self(obj);
    {
      std::lock_guard<std::mutex> lock(c.mutex_);
      c.connected_ = false;
    }
    if (c.handlers_.on_connection) c.handlers_.on_connection(false);
  }

  static void on_message_cb(mosquitto*, void* obj, const mosquitto_message* m, const mosquitto_property* props) {
    Connection& c = self(obj);
    if (!c.handlers_.on_message || m == nullptr) return;
    Message message;
    message.topic = m->topic;
    message.payload = static_cast<const uint8_t*>(m->payload);
    message.size = m->payloadlen > 0 ? size_t(m->payloadlen) : 0;
    message.qos = m->qos;
    message.retain = m->retain;
    message.properties = props;
    c.handlers_.on_message(message);
  }

  static void on_publish_cb(mosquitto*, void* obj, int mid, int reason_code, const mosquitto_property*) {
    Connection& c = self(obj);
    if (c.handlers_.on_publish) c.handlers_.on_publish(mid, reason_code);
  }

  static void on_subscribe_cb(mosquitto*, void* obj, int mid, int count, const int* granted,
                              const mosquitto_property*) {
    self(obj).record_ack(mid, count > 0 && granted != nullptr ? granted[0] : 0x80);
  }

  static void on_unsubscribe_cb(mosquitto*, void* obj, int mid, const mosquitto_property*) {
    self(obj).record_ack(mid, 0);
  }

  ConnectOptions options_;
  Handlers handlers_;
  mosquitto* mosq_ = nullptr;
  bool loop_started_ = false;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int connack_ = kNoAnswer;
  bool connected_ = false;
  std::map<int, int> acks_;  // mid -> granted QoS / 0, for requests someone waits on
  std::vector<std::pair<std::string, int>> subscriptions_;
};

}  // namespace slimcodec::mqtt
