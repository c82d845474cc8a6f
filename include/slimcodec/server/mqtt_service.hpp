// The MQTT 5 decode service: one worker of a shared-subscription group (docs/mqtt.md). Decodes each frame message on a
// WorkerPool (same backends and Reply as TCP) and answers on its Response Topic, Correlation Data echoed. shutdown()
// unsubscribes, answers every message already received, waits for the broker's PUBACKs, then disconnects.
// Like the TCP service, a frame is admitted (frame_job.hpp: admit_frame) before anything is allocated for it, and its
// payload copy and dequantized floats are charged to a memory budget (server/memory_budget.hpp) until its reply is
// out: a frame that does not fit is answered `overloaded`.
#pragma once

#include <slimcodec/server/builtin.hpp>
#include <slimcodec/server/frame_job.hpp>
#include <slimcodec/server/memory_budget.hpp>
#include <slimcodec/mqtt/connection.hpp>
#include <slimcodec/mqtt/conventions.hpp>
#include <slimcodec/server/worker_pool.hpp>
#include <slimcodec/wire/parser.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace slimcodec::server {

struct MqttServiceOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string group = std::string(mqtt::kMqttDefaultGroup);  // the shared-subscription group all workers join
  std::string client_id;                                // empty: a unique "slimcodec-decoder-..." id
  std::string topic_prefix = std::string(mqtt::kMqttDefaultPrefix);
  size_t workers = 2;  // decode threads, each with its own backend instance
  std::string backend = "identity";
  BackendOptions backend_options;
  BackendRegistry* registry = nullptr;  // nullptr: BackendRegistry::global(); the built-in backends are added to it
  // The codec-1 (rANS) tables frames may name; without them a codec-1 frame is answered entropy_table_mismatch.
  std::shared_ptr<const entropy::TableSet> entropy_tables;
  wire::ParserLimits limits;
  // Frames received but not yet decoded. Above this the network thread waits for a decode to finish, so the broker
  // holds the backlog instead of this process (libmosquitto acknowledges before we see a message: no other brake).
  size_t max_queued = 64;
  // Bytes the worker may hold for frames taken for decoding: each one's payload copy and dequantized floats (4 bytes
  // per value). A frame that does not fit is answered `overloaded`. `budget`, when set, is charged instead (one
  // budget shared with other services of the same process, e.g. a TCP service).
  size_t memory_budget = size_t(1) << 30;
  std::shared_ptr<MemoryBudget> budget;
  int keepalive_s = 30;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds shutdown_quiet{200};    // after UNSUBACK: no message for this long, none is on its way
  std::chrono::milliseconds shutdown_grace{10000};  // then stop waiting for decodes and PUBACKs
};

struct MqttServiceStats {
  std::atomic<uint64_t> messages_received{0};  // every message the broker delivered
  std::atomic<uint64_t> frames_received{0};    // valid frames taken for decoding
  std::atomic<uint64_t> frames_answered{0};    // replies to those published (status ok or a decode error)
  std::atomic<uint64_t> frames_decode_failed{0};  // includes the frames refused before decoding
  std::atomic<uint64_t> frames_refused{0};     // refused before decoding (admit_frame: tables, backend's shapes)
  std::atomic<uint64_t> frames_overloaded{0};  // answered `overloaded`: over the memory budget
  std::atomic<uint64_t> memory_peak{0};        // most bytes charged to the budget (by anyone sharing it)
  std::atomic<uint64_t> frames_unanswered{0};      // decoded after the grace ran out: no connection to reply on
  std::atomic<uint64_t> bad_messages{0};           // not exactly one valid frame
  std::atomic<uint64_t> bad_messages_answered{0};  // ...of which answered with an error reply
  std::atomic<uint64_t> messages_dropped{0};       // no usable Response Topic: nobody to answer, not decoded
  std::atomic<uint64_t> messages_dropped_closing{0};  // arrived after shutdown stopped taking messages
  std::atomic<uint64_t> replies_acked{0};             // replies the broker acknowledged (PUBACK)
  std::atomic<uint64_t> replies_failed{0};  // refused by libmosquitto, or PUBACK with an error reason code
};

class MqttDecodeService {
 public:
  // Creates the worker pool, connects, and joins the group (returns once the broker's SUBACK is in).
  static Result<std::unique_ptr<MqttDecodeService>> start(MqttServiceOptions options) {
    if (!mqtt::mqtt_valid_level(options.group)) return Error{Errc::invalid_argument, "bad MQTT group name"};
    if (!mqtt::mqtt_valid_prefix(options.topic_prefix)) return Error{Errc::invalid_argument, "bad MQTT topic prefix"};
    if (options.max_queued == 0) return Error{Errc::invalid_argument, "max_queued must be at least 1"};
    if (options.client_id.empty()) options.client_id = mqtt::mqtt_unique_client_id("decoder");
    if (!options.budget &&
        !try_allocate([&] { options.budget = std::make_shared<MemoryBudget>(options.memory_budget); }))
      return Error{Errc::out_of_memory, "memory budget"};
    BackendRegistry& registry = options.registry ? *options.registry : BackendRegistry::global();
    register_builtin_backends(registry);
    auto pool = WorkerPool::create(options.workers, options.backend, options.backend_options, registry);
    if (!pool) return pool.error();
    std::unique_ptr<MqttDecodeService> svc(new MqttDecodeService(std::move(options), std::move(*pool)));

    mqtt::MqttConnectOptions connect;
    connect.host = svc->options_.host;
    connect.port = svc->options_.port;
    connect.client_id = svc->options_.client_id;
    connect.keepalive_s = svc->options_.keepalive_s;
    connect.clean_start = true;  // a dead worker must leave the group at once (docs/mqtt.md: clean session)
    connect.session_expiry_s = 0;
    connect.connect_timeout = svc->options_.connect_timeout;
    mqtt::MqttConnection::Handlers handlers;
    MqttDecodeService* self = svc.get();
    handlers.on_message = [self](const mqtt::MqttMessage& m) { self->on_message(m); };
    handlers.on_publish = [self](int, int reason_code) { self->on_reply_acked(reason_code); };
    auto connection = mqtt::MqttConnection::open(connect, std::move(handlers));
    if (!connection) return connection.error();
    svc->connection_ = std::move(*connection);
    if (auto sub = svc->connection_->subscribe(svc->filter_, 1); !sub) return sub.error();
    svc->subscribed_ = true;
    return svc;
  }

  ~MqttDecodeService() { shutdown(); }

  // Leaves the group (UNSUBSCRIBE), answers every message received (also those the broker had already queued for
  // this worker: they keep arriving until shutdown_quiet passes without one), waits for the broker to acknowledge
  // every reply, then disconnects. Bounded by shutdown_grace. Blocks; call from any thread but a handler. Idempotent.
  void shutdown() {
    std::call_once(shutdown_once_, [this] { stop(); });
  }

  const MqttServiceOptions& options() const { return options_; }
  const std::string& client_id() const { return options_.client_id; }
  const std::string& subscription() const { return filter_; }  // "$share/<group>/<prefix>/frames/+"
  bool connected() const { return connection_ && connection_->connected(); }
  MqttServiceStats& stats() { return stats_; }
  const MqttServiceStats& stats() const { return stats_; }
  MemoryBudget& budget() { return *options_.budget; }

 private:
  struct Job {
    wire::FrameHeader header;
    std::vector<uint8_t> payload;
    std::string reply_topic;
    std::optional<std::vector<uint8_t>> correlation;
  };

  MqttDecodeService(MqttServiceOptions options, std::unique_ptr<WorkerPool> pool)
      : options_(std::move(options)),
        filter_(mqtt::mqtt_shared_frame_filter(options_.group, options_.topic_prefix)),
        pool_(std::move(pool)) {}

  // Network thread. libmosquitto has already queued the PUBACK: from here on, this worker alone owns the frame.
  void on_message(const mqtt::MqttMessage& m) {
    ++stats_.messages_received;
    auto frame = wire::parse_frame(m.payload, m.size, options_.limits);
    Errc status = frame.code();
    if (frame && frame->frame_size != m.size) status = Errc::length_mismatch;  // one whole frame per message
    if (status != Errc::ok) ++stats_.bad_messages;
    auto reply_topic = mqtt::mqtt_read_response_topic(m.properties);
    if (!reply_topic || !mqtt::mqtt_acceptable_reply_topic(*reply_topic, options_.topic_prefix)) {
      ++stats_.messages_dropped;
      note_message();
      return;
    }
    auto correlation = mqtt::mqtt_read_correlation_data(m.properties);

    std::unique_lock<std::mutex> lock(mutex_);
    last_message_ = std::chrono::steady_clock::now();
    if (status != Errc::ok) {
      if (closing_) return void(++stats_.messages_dropped_closing);
      ++unacked_;
      lock.unlock();
      wire::Reply reply;
      reply.status = status;
      // The frame id from the header is out of reach; ours is in the correlation data when the device follows
      // docs/mqtt.md, so the device can still match the error to its frame.
      if (correlation)
        reply.frame_id = mqtt::mqtt_frame_id_from_correlation(correlation->data(), correlation->size()).value_or(0);
      if (publish_reply(*reply_topic, correlation, reply)) ++stats_.bad_messages_answered;
      return;
    }
    changed_.wait(lock, [&] { return queued_ < options_.max_queued || closing_; });
    if (closing_) return void(++stats_.messages_dropped_closing);
    ++queued_;
    lock.unlock();
    ++stats_.frames_received;

    // Admitted, then charged, before anything is allocated for the frame: the payload's copy and its floats.
    const wire::FrameHeader header = frame->header;
    Errc refused = Errc::ok;
    const size_t cost = header.payload_size + size_t(frame_float_bytes(header));
    if (auto admitted = admit_frame(header, frame->payload, frame->payload_size, options_.entropy_tables.get(),
                                    pool_->accepted());
        !admitted) {
      refused = admitted.code();
      ++stats_.frames_refused;
      ++stats_.frames_decode_failed;
    } else if (!options_.budget->charge(cost)) {
      refused = Errc::overloaded;
      ++stats_.frames_overloaded;
    } else {
      note_peak();
    }
    std::shared_ptr<Job> job;
    if (refused == Errc::ok &&
        !try_allocate([&] {
          job = std::make_shared<Job>();
          job->payload.assign(frame->payload, frame->payload + frame->payload_size);
          job->reply_topic = *reply_topic;
          job->correlation = correlation;
        })) {
      options_.budget->release(cost);
      refused = Errc::out_of_memory;
      ++stats_.frames_decode_failed;
    }
    if (refused != Errc::ok) {  // answered here, without decoding
      wire::Reply reply;
      reply.status = refused;
      reply.frame_id = header.frame_id;
      reply.timestamp_us = header.timestamp_us;
      bool send;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        --queued_;
        send = !closing_;
        if (send) ++unacked_;
      }
      changed_.notify_all();
      if (!send)
        ++stats_.frames_unanswered;
      else if (publish_reply(*reply_topic, correlation, reply))
        ++stats_.frames_answered;
      return;
    }
    job->header = header;
    const bool queued = pool_->submit([this, job, cost](DecoderBackend& backend, std::vector<float>& scratch) {
      const wire::Reply reply = decode_frame_to_reply(backend, job->header, job->payload.data(), job->payload.size(),
                                                      scratch, options_.entropy_tables.get());
      options_.budget->release(cost);
      if (reply.status != Errc::ok) ++stats_.frames_decode_failed;
      bool send;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        send = !closing_;  // only after the grace ran out while this frame waited
        if (send) ++unacked_;
      }
      if (!send)
        ++stats_.frames_unanswered;
      else if (publish_reply(job->reply_topic, job->correlation, reply))
        ++stats_.frames_answered;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        --queued_;
      }
      changed_.notify_all();
    }, TaskOrder{0, heavy_frame(job->header)});
    if (!queued) {  // out of memory, or stopping: the frame goes unanswered (the device's timeout covers it)
      options_.budget->release(cost);
      ++stats_.frames_unanswered;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        --queued_;
      }
      changed_.notify_all();
    }
  }

  void note_peak() {
    const uint64_t used = options_.budget->used();
    uint64_t peak = stats_.memory_peak.load(std::memory_order_relaxed);
    while (used > peak && !stats_.memory_peak.compare_exchange_weak(peak, used)) {
    }
  }

  void note_message() {
    std::lock_guard<std::mutex> lock(mutex_);
    last_message_ = std::chrono::steady_clock::now();
  }

  // The caller has counted the reply in unacked_ already, so shutdown cannot see "idle" while it is on its way.
  bool publish_reply(const std::string& topic, const std::optional<std::vector<uint8_t>>& correlation,
                     const wire::Reply& reply) {
    const wire::ReplyBytes bytes = wire::write_reply(reply);
    mosquitto_property* raw = nullptr;
    if (correlation)
      mosquitto_property_add_binary(&raw, MQTT_PROP_CORRELATION_DATA, correlation->data(),
                                    uint16_t(correlation->size()));  // came from a 16-bit-length property
    const mqtt::MqttProperties props(raw);
    auto mid = connection_->publish(topic, bytes.data(), bytes.size(), 1, props.get());
    if (mid) return true;
    ++stats_.replies_failed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --unacked_;
    }
    changed_.notify_all();
    return false;
  }

  void on_reply_acked(int reason_code) {
    if (reason_code >= 0x80)
      ++stats_.replies_failed;
    else
      ++stats_.replies_acked;  // includes 0x10 "no matching subscribers": the device is gone, nothing to retry
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (unacked_ > 0) --unacked_;
    }
    changed_.notify_all();
  }

  void stop() {
    if (subscribed_)
      (void)connection_->unsubscribe(filter_);  // fails only when the connection is lost: then nothing arrives
    stop_taking_messages();
    changed_.notify_all();  // a network thread waiting for room gives up
    if (connection_) connection_->close();
    stats_.frames_unanswered += pool_->stop();  // queued past the grace: dropped
  }

  // Waits until nothing is queued or unacknowledged and no message came for shutdown_quiet (or shutdown_grace is
  // over), then closes the intake in the same critical section: a message is either counted in queued_ or dropped.
  void stop_taking_messages() {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
    last_message_ = std::max(last_message_, std::chrono::steady_clock::now());
    while (subscribed_) {
      const auto t = std::chrono::steady_clock::now();
      const bool idle = queued_ == 0 && unacked_ == 0;
      const auto quiet_until = last_message_ + options_.shutdown_quiet;
      if ((idle && t >= quiet_until) || t >= deadline) break;
      changed_.wait_until(lock, idle ? std::min(quiet_until, deadline) : deadline);
    }
    closing_ = true;
  }

  MqttServiceOptions options_;
  std::string filter_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<mqtt::MqttConnection> connection_;
  bool subscribed_ = false;
  MqttServiceStats stats_;
  std::once_flag shutdown_once_;
  std::mutex mutex_;
  std::condition_variable changed_;  // queued_, unacked_ or closing_ changed
  size_t queued_ = 0;                // taken for decoding, reply not yet published
  size_t unacked_ = 0;               // replies published, PUBACK not yet in
  bool closing_ = false;
  std::chrono::steady_clock::time_point last_message_{};
};

}  // namespace slimcodec::server
