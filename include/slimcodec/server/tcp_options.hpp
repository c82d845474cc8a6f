// The TCP decode service's settings and counts: what each connection may hold and how long it may take
// (docs/service.md, hostile clients), and what the service counted.
#pragma once

#include "slimcodec/server/pipeline.hpp"
#include "slimcodec/wire/frame.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace slimcodec::server {

struct ServiceOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port (see TcpService::port())
  size_t workers = 2;
  std::string backend = "identity";
  BackendOptions backend_options;
  // Where `backend` is looked up, only while create() runs (the service adds the built-in backends to it:
  // register_builtin_backends); nullptr: a registry of the service's own holding just the built-in ones.
  BackendRegistry* registry = nullptr;
  // The codec-1 (rANS) tables frames may name (weights/entropy_tables.hpp loads them from a *.entropy.safetensors
  // file). Without them, or when a frame names other tables, a codec-1 frame is answered entropy_table_mismatch.
  std::shared_ptr<const entropy::TableSet> entropy_tables;
  // Frames being decoded plus replies not yet written, per connection: reading pauses at this many, so a client
  // that does not read its replies stops being read (back-pressure instead of memory growth).
  size_t max_inflight_per_connection = 32;
  size_t max_connections = 1024;
  size_t send_buffer_bytes = 0;  // SO_SNDBUF of each connection; 0 keeps the system's (autotuned) size
  wire::ParserLimits limits;
  // Bytes the service may hold for frames across all connections: each connection's 16 KiB read buffer (a
  // connection that would not fit is closed at once), parser buffers (as payload bytes arrive), and
  // for each frame being decoded its buffer (the parser's, handed over, not copied) plus its dequantized floats
  // (4 bytes per value), and the few spare buffers a connection keeps for reuse (256 KiB at most). A frame that
  // does not fit is answered `overloaded`; a partial frame whose buffer would not fit ends its stream with
  // `overloaded`. A frame larger than the whole budget is read through without being kept, then answered
  // `overloaded`. The check runs after each parser growth, so the total can pass the budget by at most one growth
  // step (at most limits.max_payload_size). Backend memory (its network, its output) is the backend's own.
  size_t memory_budget = size_t(1) << 30;
  // The budget to charge instead of one of memory_budget bytes: a program that runs several services (TCP and MQTT)
  // hands them the same one.
  std::shared_ptr<MemoryBudget> budget;
  std::chrono::milliseconds idle_timeout{30000};   // nothing received, decoding or being written this long: close
  std::chrono::milliseconds frame_timeout{60000};  // a frame not complete this long after its first byte: close
  // A frame in progress must keep min_frame_rate bytes per second once frame_grace has passed since its first byte:
  // it is cut when it has received fewer than min_frame_rate x (elapsed - frame_grace) bytes (the header's 48 bytes
  // have frame_grace to arrive). A client trickling a byte a second is cut after about frame_grace, not
  // frame_timeout. 0 turns the rate off (frame_timeout alone).
  size_t min_frame_rate = 4096;
  std::chrono::milliseconds frame_grace{2000};
  std::chrono::milliseconds write_timeout{30000};  // a reply write (client not reading) pending this long: close
  std::chrono::milliseconds accept_backoff{100};   // after an accept error (EMFILE, ENFILE): wait, then accept again
  std::chrono::milliseconds shutdown_grace{10000};  // after shutdown(), connections still open this long are cut

  PipelineOptions pipeline_options() const {
    return PipelineOptions{workers, backend, backend_options, registry, entropy_tables, memory_budget, budget};
  }
};

// The pipeline's counts (FrameStats: frames received, answered, decode failed, overloaded, refused, unanswered,
// memory peak) and the TCP side's own.
struct ServiceStats : FrameStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};  // table full of busy connections, or no memory for the connection
  std::atomic<uint64_t> connections_evicted{0};   // the slowest idle or trickling connection, closed for a new client
  std::atomic<uint64_t> connections_failed{0};    // not a valid frame stream, or a partial frame over the budget
  std::atomic<uint64_t> connections_cut{0};       // disconnected mid-frame, timed out, or cut at shutdown (once each)
  std::atomic<uint64_t> connections_timed_out{0};  // of those cut: idle, frame, frame rate or write timeout
  std::atomic<uint64_t> connections_too_slow{0};   // of those timed out: a frame below min_frame_rate
  std::atomic<uint64_t> accept_errors{0};          // accept failed (EMFILE, ENFILE, ...); accept re-armed after a pause
  std::atomic<uint64_t> outbox_peak{0};            // most replies ever queued on one connection
};

}  // namespace slimcodec::server
