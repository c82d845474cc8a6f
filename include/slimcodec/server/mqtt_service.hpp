// The MQTT 5 decode service: one worker of a shared-subscription group (docs/mqtt.md). It moves bytes between the
// broker and the frame pipeline (pipeline.hpp: admit, charge the memory budget, decode on the worker pool, reply,
// count; the same path as TCP) and answers on each frame's Response Topic, Correlation Data echoed. shutdown()
// unsubscribes, answers every message already received, waits for the broker's PUBACKs, then disconnects.
// A frame is admitted before anything is allocated for it; its payload is copied once, out of libmosquitto's
// message (freed when the callback returns), into a buffer the worker keeps for reuse, charged to the budget with
// the frame's floats: in a steady stream no payload-sized allocation happens per message.
#pragma once

#include "slimcodec/mqtt/connection.hpp"
#include "slimcodec/mqtt/conventions.hpp"
#include "slimcodec/server/pipeline.hpp"
#include "slimcodec/wire/parser.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace slimcodec::server {

struct MqttServiceOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string group = std::string(mqtt::kDefaultGroup);  // the shared-subscription group all workers join
  std::string client_id;                                // empty: a unique "slimcodec-decoder-..." id
  std::string topic_prefix = std::string(mqtt::kDefaultPrefix);
  size_t workers = 2;  // decode threads, each with its own backend instance
  std::string backend = "identity";
  BackendOptions backend_options;
  // Where `backend` is looked up, only while start() runs (the built-in backends are added to it); nullptr: a
  // registry of the service's own holding just the built-in ones.
  BackendRegistry* registry = nullptr;
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

// The pipeline's counts (FrameStats: frames received, i.e. valid frames taken for decoding; answered, i.e. replies
// published; decode failed; overloaded; refused; unanswered, i.e. decoded after the grace ran out; memory peak) and
// the MQTT side's own.
struct MqttServiceStats : FrameStats {
  std::atomic<uint64_t> messages_received{0};  // every message the broker delivered
  std::atomic<uint64_t> bad_messages{0};           // not exactly one valid frame
  std::atomic<uint64_t> bad_messages_answered{0};  // ...of which answered with an error reply
  std::atomic<uint64_t> messages_dropped{0};       // no usable Response Topic: nobody to answer, not decoded
  std::atomic<uint64_t> messages_dropped_closing{0};  // arrived after shutdown stopped taking messages
  std::atomic<uint64_t> replies_acked{0};             // replies the broker acknowledged (PUBACK)
  std::atomic<uint64_t> replies_failed{0};  // refused by libmosquitto, or PUBACK with an error reason code
  std::atomic<uint64_t> payload_allocations{0};  // payload buffers allocated (the others reused a kept one)
};

class MqttDecodeService {
 public:
  // Creates the worker pool, connects, and joins the group (returns once the broker's SUBACK is in).
  static Result<std::unique_ptr<MqttDecodeService>> start(MqttServiceOptions options) {
    if (!mqtt::valid_level(options.group)) return Error{Errc::invalid_argument, "bad MQTT group name"};
    if (!mqtt::valid_prefix(options.topic_prefix)) return Error{Errc::invalid_argument, "bad MQTT topic prefix"};
    if (options.max_queued == 0) return Error{Errc::invalid_argument, "max_queued must be at least 1"};
    if (options.client_id.empty()) options.client_id = mqtt::unique_client_id("decoder");
    PipelineOptions pipeline{options.workers,       options.backend,       options.backend_options, options.registry,
                             options.entropy_tables, options.memory_budget, options.budget};
    std::unique_ptr<MqttDecodeService> svc;
    if (!try_allocate([&] { svc.reset(new MqttDecodeService(std::move(options))); }))
      return Error{Errc::out_of_memory, "MQTT service"};
    auto created = FramePipeline::create(std::move(pipeline), svc->stats_);
    if (!created) return created.error();
    svc->pipeline_ = std::move(*created);

    mqtt::ConnectOptions connect;
    connect.host = svc->options_.host;
    connect.port = svc->options_.port;
    connect.client_id = svc->options_.client_id;
    connect.keepalive_s = svc->options_.keepalive_s;
    connect.clean_start = true;  // a dead worker must leave the group at once (docs/mqtt.md: clean session)
    connect.session_expiry_s = 0;
    connect.connect_timeout = svc->options_.connect_timeout;
    mqtt::Connection::Handlers handlers;
    MqttDecodeService* self = svc.get();
    handlers.on_message = [self](const mqtt::Message& m) { self->on_message(m); };
    handlers.on_publish = [self](int, int reason_code) { self->on_reply_acked(reason_code); };
    auto connection = mqtt::Connection::open(connect, std::move(handlers));
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
  MemoryBudget& budget() { return pipeline_->budget(); }

 private:
  // A frame taken for decoding: where its reply goes. Kept for the next frame (its strings keep their memory).
  struct Slot {
    std::string reply_topic;
    std::optional<std::vector<uint8_t>> correlation;
  };

  // Spare payload buffers, in bytes, kept for the next frames (charged to the budget while kept), and the largest
  // buffer kept: a larger one is freed after its frame.
  static constexpr size_t kKeepSpareBytes = size_t(4) << 20;
  static constexpr size_t kKeepBufferBytes = size_t(1) << 20;

  explicit MqttDecodeService(MqttServiceOptions options)
      : options_(std::move(options)), filter_(mqtt::shared_frame_filter(options_.group, options_.topic_prefix)) {}

  // Where the pipeline hands a decoded frame's reply (a decode thread): published on the frame's Response Topic.
  struct ReplySink {
    MqttDecodeService* service;
    Slot* slot;
    bool cancelled() const { return false; }  // a message taken is always answered (or counted unanswered)
    void operator()(const wire::ReplyBytes* reply, wire::FrameBuffer buffer) {
      service->finish(*slot, *reply, std::move(buffer));
    }
  };

  // Network thread. libmosquitto has already queued the PUBACK: from here on, this worker alone owns the frame.
  void on_message(const mqtt::Message& m) {
    ++stats_.messages_received;
    auto frame = wire::parse_frame(m.payload, m.size, options_.limits);  // a view into m.payload, no copy
    Errc status = frame.code();
    if (frame && frame->frame_size != m.size) status = Errc::length_mismatch;  // one whole frame per message
    if (status != Errc::ok) ++stats_.bad_messages;
    auto reply_topic = mqtt::read_response_topic(m.properties);
    if (!reply_topic || !mqtt::acceptable_reply_topic(*reply_topic, options_.topic_prefix)) {
      ++stats_.messages_dropped;
      note_message();
      return;
    }
    auto correlation = mqtt::read_correlation_data(m.properties);

    std::unique_lock<std::mutex> lock(mutex_);
    last_message_ = std::chrono::steady_clock::now();
    if (status != Errc::ok) {
      if (closing_) return void(++stats_.messages_dropped_closing);
      ++unacked_;
      lock.unlock();
      // The frame id from the header is out of reach; ours is in the correlation data when the device follows
      // docs/mqtt.md, so the device can still match the error to its frame.
      uint32_t frame_id = 0;
      if (correlation)
        frame_id = mqtt::frame_id_from_correlation(correlation->data(), correlation->size()).value_or(0);
      if (publish_reply(*reply_topic, correlation, FramePipeline::stream_error(status, frame_id)))
        ++stats_.bad_messages_answered;
      return;
    }
    changed_.wait(lock, [&] { return queued_ < options_.max_queued || closing_; });
    if (closing_) return void(++stats_.messages_dropped_closing);
    ++queued_;
    Slot* slot = take_slot();
    wire::FrameBuffer buffer = take_spare(frame->payload_size);
    lock.unlock();

    // Admitted, then charged (its floats, and a payload buffer when no kept one fits), before anything is allocated.
    const wire::FrameHeader header = frame->header;
    const size_t new_buffer = buffer.data ? 0 : frame->payload_size;
    Admission admitted = pipeline_->admit(*frame, new_buffer);
    if (admitted && slot == nullptr) {
      pipeline_->release(admitted.floats + new_buffer);
      pipeline_->count_failed();
      admitted.status = Errc::out_of_memory;
    }
    if (admitted && !buffer.data) {
      if (try_allocate([&] { buffer.data.reset(new uint8_t[new_buffer > 0 ? new_buffer : 1]); })) {
        buffer.capacity = new_buffer;
        ++stats_.payload_allocations;
      } else {
        pipeline_->release(admitted.floats + new_buffer);
        pipeline_->count_failed();
        admitted.status = Errc::out_of_memory;
      }
    }
    if (!admitted) {  // answered here, without decoding
      bool send;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        keep_spare(std::move(buffer));
        if (slot) free_slots_.push_back(slot);  // reserved: cannot fail
        --queued_;
        send = !closing_;
        if (send) ++unacked_;
      }
      changed_.notify_all();
      const wire::ReplyBytes refusal = FramePipeline::refusal(header, admitted.status);
      pipeline_->count_reply(send && publish_reply(*reply_topic, correlation, refusal));
      return;
    }
    if (frame->payload_size > 0) std::memcpy(buffer.data.get(), frame->payload, frame->payload_size);  // the one copy
    slot->reply_topic = std::move(*reply_topic);
    slot->correlation = std::move(correlation);
    const size_t held = buffer.capacity;
    if (!pipeline_->submit(header, admitted, std::move(buffer), TaskOrder{0, heavy_frame(header)},
                           ReplySink{this, slot})) {
      // Out of memory, or stopping: the frame goes unanswered (the device's timeout covers it).
      pipeline_->release(held);
      pipeline_->count_reply(false);
      {
        std::lock_guard<std::mutex> guard(mutex_);
        free_slots_.push_back(slot);
        --queued_;
      }
      changed_.notify_all();
    }
  }

  // A decode thread: publishes the reply, then gives the slot and the buffer back for the next frames.
  void finish(Slot& slot, const wire::ReplyBytes& reply, wire::FrameBuffer buffer) {
    bool send;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      send = !closing_;  // only after the grace ran out while this frame waited
      if (send) ++unacked_;
    }
    if (!send)
      pipeline_->count_reply(false);
    else
      pipeline_->count_reply(publish_reply(slot.reply_topic, slot.correlation, reply));
    {
      std::lock_guard<std::mutex> guard(mutex_);
      keep_spare(std::move(buffer));
      free_slots_.push_back(&slot);
      --queued_;
    }
    changed_.notify_all();
  }

  // Under mutex_. A slot for a frame taken (at most max_queued exist); nullptr when memory for one ran out.
  Slot* take_slot() {
    if (free_slots_.empty()) {
      bool made = try_allocate([&] {
        slots_.reserve(options_.max_queued);
        free_slots_.reserve(options_.max_queued);
        slots_.push_back(std::make_unique<Slot>());
      });
      if (!made) return nullptr;
      return slots_.back().get();
    }
    Slot* s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }

  // Under mutex_. A kept buffer that holds `size` bytes (its charge moves to the frame), or none.
  wire::FrameBuffer take_spare(size_t size) {
    for (size_t i = 0; i < spares_.size(); ++i) {
      if (spares_[i].capacity < size) continue;
      wire::FrameBuffer out = std::move(spares_[i]);
      spares_[i] = std::move(spares_.back());
      spares_.pop_back();
      spares_charged_ -= out.capacity;
      return out;
    }
    return {};
  }

  // Under mutex_. Keeps a frame's buffer for the next frames, or frees it (and releases its charge).
  void keep_spare(wire::FrameBuffer buffer) {
    if (!buffer.data) return;
    const size_t n = buffer.capacity;
    if (closing_ || n > kKeepBufferBytes || spares_charged_ + n > kKeepSpareBytes ||
        !try_allocate([&] { spares_.push_back(std::move(buffer)); })) {
      pipeline_->release(n);  // freed with `buffer`
      return;
    }
    spares_charged_ += n;
  }

  void note_message() {
    std::lock_guard<std::mutex> lock(mutex_);
    last_message_ = std::chrono::steady_clock::now();
  }

  // The caller has counted the reply in unacked_ already, so shutdown cannot see "idle" while it is on its way.
  bool publish_reply(const std::string& topic, const std::optional<std::vector<uint8_t>>& correlation,
                     const wire::ReplyBytes& bytes) {
    mosquitto_property* raw = nullptr;
    if (correlation)
      mosquitto_property_add_binary(&raw, MQTT_PROP_CORRELATION_DATA, correlation->data(),
                                    uint16_t(correlation->size()));  // came from a 16-bit-length property
    const mqtt::Properties props(raw);
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
    if (pipeline_) pipeline_->stop();  // queued past the grace: dropped (counted unanswered)
    std::lock_guard<std::mutex> lock(mutex_);
    if (pipeline_) pipeline_->release(spares_charged_);  // the kept buffers go back to the budget
    spares_.clear();
    spares_charged_ = 0;
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
  MqttServiceStats stats_;  // before pipeline_, which counts into it until it is gone
  std::unique_ptr<FramePipeline> pipeline_;
  std::vector<std::unique_ptr<Slot>> slots_;  // under mutex_, like the three below
  std::vector<Slot*> free_slots_;
  std::vector<wire::FrameBuffer> spares_;
  size_t spares_charged_ = 0;
  std::unique_ptr<mqtt::Connection> connection_;
  bool subscribed_ = false;
  std::once_flag shutdown_once_;
  std::mutex mutex_;
  std::condition_variable changed_;  // queued_, unacked_ or closing_ changed
  size_t queued_ = 0;                // taken for decoding, reply not yet published
  size_t unacked_ = 0;               // replies published, PUBACK not yet in
  bool closing_ = false;
  std::chrono::steady_clock::time_point last_message_{};
};

}  // namespace slimcodec::server
