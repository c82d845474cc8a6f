// The server's one path for a frame, whatever carried it: admit (every check that needs no decoding), charge the
// memory budget, decode on the worker pool, write the reply's bytes, count. The transports (tcp_connection.hpp,
// mqtt_service.hpp) only move bytes: they hand in a parsed frame whose payload lies in a wire::FrameBuffer, and get
// back the reply's bytes and the buffer (to reuse for the next frame) on a decode thread.
#pragma once

#include "slimcodec/common/alloc.hpp"
#include "slimcodec/server/builtin.hpp"
#include "slimcodec/server/frame_job.hpp"
#include "slimcodec/server/memory_budget.hpp"
#include "slimcodec/server/worker_pool.hpp"
#include "slimcodec/wire/parser.hpp"
#include "slimcodec/wire/reply.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace slimcodec::server {

// What the pipeline counts, the same for every transport (ServiceStats and MqttServiceStats add their own).
struct FrameStats {
  std::atomic<uint64_t> frames_received{0};  // complete, valid frames handed to the pipeline
  std::atomic<uint64_t> frames_answered{0};  // replies the transport delivered (ok or decode error)
  std::atomic<uint64_t> frames_decode_failed{0};  // includes the frames refused before decoding
  std::atomic<uint64_t> frames_overloaded{0};  // answered `overloaded` (memory budget)
  std::atomic<uint64_t> frames_refused{0};     // refused before decoding (admit_frame: tables, backend's shapes)
  std::atomic<uint64_t> frames_unanswered{0};  // received, but no reply could be delivered
  std::atomic<uint64_t> memory_peak{0};        // most bytes ever charged to the budget (by anyone sharing it)
};

struct PipelineOptions {
  size_t workers = 2;  // decode threads, each with its own backend instance
  std::string backend = "identity";
  BackendOptions backend_options;
  // Where `backend` is looked up, only while the pipeline is created (the built-in backends are added to it);
  // nullptr: a registry of the pipeline's own holding just the built-in ones.
  BackendRegistry* registry = nullptr;
  // The codec-1 (rANS) tables frames may name; without them a codec-1 frame is answered entropy_table_mismatch.
  std::shared_ptr<const entropy::TableSet> entropy_tables;
  size_t memory_budget = size_t(1) << 30;
  std::shared_ptr<MemoryBudget> budget;  // charged instead of one of memory_budget bytes, when set
};

// A frame the pipeline took: its floats (and the transport's buffer bytes it was asked to charge) are charged.
struct Admission {
  Errc status = Errc::ok;  // not ok: answer with refusal(header, status); nothing is charged
  size_t floats = 0;       // bytes of dequantized floats, charged until the frame's reply is written
  explicit operator bool() const { return status == Errc::ok; }
};

class FramePipeline {
 public:
  // `stats` outlives the pipeline (it is the service's).
  static Result<std::unique_ptr<FramePipeline>> create(PipelineOptions options, FrameStats& stats) {
    BackendRegistry builtin;
    BackendRegistry& registry = options.registry ? *options.registry : builtin;
    register_builtin_backends(registry);
    options.registry = nullptr;  // not kept: the backends are created below
    if (!options.budget &&
        !try_allocate([&] { options.budget = std::make_shared<MemoryBudget>(options.memory_budget); }))
      return Error{Errc::out_of_memory, "memory budget"};
    auto pool = WorkerPool::create(options.workers, options.backend, options.backend_options, registry);
    if (!pool) return pool.error();
    std::unique_ptr<FramePipeline> p;
    if (!try_allocate([&] { p.reset(new FramePipeline(std::move(options), std::move(*pool), stats)); }))
      return Error{Errc::out_of_memory, "frame pipeline"};
    return p;
  }

  ~FramePipeline() { stop(); }

  // ---- admit

  // Every check that needs no decoding (admit_frame), then the budget: the frame's floats plus `buffer_bytes` the
  // transport is about to allocate for it (those stay charged to the transport, which releases them when it frees
  // the buffer). Counts the frame as received, and a refusal as refused or overloaded.
  Admission admit(const wire::FrameView& frame, size_t buffer_bytes = 0) {
    ++stats_.frames_received;
    const wire::FrameHeader& h = frame.header;
    if (auto admitted = admit_frame(h, frame.payload, frame.payload_size, tables(), pool_->accepted()); !admitted)
      return refuse(admitted.code());
    const size_t floats = size_t(frame_float_bytes(h));
    if (buffer_bytes > SIZE_MAX - floats || !charge(floats + buffer_bytes)) return refuse(Errc::overloaded);
    return Admission{Errc::ok, floats};
  }

  // A frame the transport read through without keeping its payload (beyond the whole budget, or a shape the
  // backend does not take): counted as received and refused; the status to answer it with.
  Errc admit_unread(const wire::FrameHeader& h) {
    ++stats_.frames_received;
    if (!accepts(h)) return refuse(Errc::shape_out_of_range).status;
    return refuse(Errc::overloaded).status;
  }

  // Whether the backend takes this shape, and whether a frame this size could ever fit the budget: both known from
  // the header, before any payload byte is kept.
  bool accepts(const wire::FrameHeader& h) const {
    return pool_->accepted().accepts(Shape{h.channels, h.height, h.width});
  }
  bool beyond_budget(const wire::FrameHeader& h) const {
    return uint64_t(h.payload_size) + frame_float_bytes(h) > budget_->limit();
  }

  // ---- decode

  // Decodes an admitted frame on the worker pool. Its payload is the first payload_size bytes of `buffer`. `sink`
  // is called once on a decode thread as sink(const wire::ReplyBytes* reply, wire::FrameBuffer buffer): reply is
  // null when sink.cancelled() was true before decoding began (nobody to answer: the decode is skipped). The
  // floats are released before the sink runs. False when the task could not be queued (out of memory, or the
  // pool stopping): the floats are released, and the buffer and the sink are gone with the task.
  template <class Sink>
  [[nodiscard]] bool submit(const wire::FrameHeader& header, const Admission& admitted, wire::FrameBuffer buffer,
                            TaskOrder order, Sink sink) {
    const size_t floats = admitted.floats;
    auto task = [this, header, floats, buffer = std::move(buffer), sink = std::move(sink)](
                    DecoderBackend& backend, std::vector<float>& scratch) mutable {
      if (sink.cancelled()) {
        release(floats);
        return sink(static_cast<const wire::ReplyBytes*>(nullptr), std::move(buffer));
      }
      const wire::FrameView frame{header, buffer.data.get(), header.payload_size, wire::frame_size(header)};
      const wire::Reply reply = decode_admitted_frame(backend, frame, scratch, tables());
      release(floats);
      if (reply.status != Errc::ok) ++stats_.frames_decode_failed;
      const wire::ReplyBytes bytes = wire::write_reply(reply);
      sink(&bytes, std::move(buffer));
    };
    // Queuing a frame allocates nothing: the task fits in PoolTask's own storage.
    static_assert(sizeof(task) <= PoolTask::kInline, "a frame's task must fit PoolTask's inline storage");
    if (pool_->submit(std::move(task), order)) return true;
    release(floats);
    return false;
  }

  // ---- reply

  // The reply to a frame answered without decoding (refused, overloaded, out of memory).
  static wire::ReplyBytes refusal(const wire::FrameHeader& h, Errc status) {
    wire::Reply reply;
    reply.status = status;
    reply.frame_id = h.frame_id;
    reply.timestamp_us = h.timestamp_us;
    return wire::write_reply(reply);
  }
  // The reply that ends a stream which is not a valid frame stream (frame id 0, or the one the transport knows).
  static wire::ReplyBytes stream_error(Errc status, uint32_t frame_id = 0) {
    wire::Reply reply;
    reply.status = status;
    reply.frame_id = frame_id;
    return wire::write_reply(reply);
  }

  // ---- stats

  void count_reply(bool delivered) { ++(delivered ? stats_.frames_answered : stats_.frames_unanswered); }
  // A frame admitted but then answered without decoding because memory for its task ran out.
  void count_failed() { ++stats_.frames_decode_failed; }

  // ---- budget

  // Charges `bytes`, or nothing and false when they do not fit; notes the peak.
  bool charge(size_t bytes) {
    if (!budget_->charge(bytes)) return false;
    const uint64_t used = budget_->used();
    uint64_t peak = stats_.memory_peak.load(std::memory_order_relaxed);
    while (used > peak && !stats_.memory_peak.compare_exchange_weak(peak, used)) {
    }
    return true;
  }
  void release(size_t bytes) { budget_->release(bytes); }
  MemoryBudget& budget() { return *budget_; }
  const MemoryBudget& budget() const { return *budget_; }

  // Stops the decode threads: running frames finish, queued ones are dropped (counted as unanswered). Idempotent.
  void stop() { stats_.frames_unanswered += pool_->stop(); }

  WorkerPool& pool() { return *pool_; }
  const PipelineOptions& options() const { return options_; }
  const entropy::TableSet* tables() const { return options_.entropy_tables.get(); }
  FrameStats& stats() { return stats_; }

 private:
  FramePipeline(PipelineOptions options, std::unique_ptr<WorkerPool> pool, FrameStats& stats)
      : options_(std::move(options)), pool_(std::move(pool)), budget_(options_.budget), stats_(stats) {}

  Admission refuse(Errc status) {
    if (status == Errc::overloaded) {
      ++stats_.frames_overloaded;
    } else {
      ++stats_.frames_refused;
      ++stats_.frames_decode_failed;
    }
    return Admission{status, 0};
  }

  PipelineOptions options_;
  std::unique_ptr<WorkerPool> pool_;
  std::shared_ptr<MemoryBudget> budget_;
  FrameStats& stats_;
};

}  // namespace slimcodec::server
