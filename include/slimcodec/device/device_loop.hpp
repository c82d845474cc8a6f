// The device side of adaptive split computing, one frame per process() call: decide (s, b) from the conservative
// bandwidth estimate -> encode s members -> frame at b bits -> send -> wait for the matching reply -> learn from it
// (bandwidth from send/ack timing minus the server's decode time; encoder and server costs into the table).
// Any FrameTransport works (TCP: tcp_transport.hpp, MQTT: mqtt_transport.hpp), so an application keeps its own
// link. Each record hands the caller the frame's task result (the detections the server sent), its frame id and
// whether the deadline was met. No allocation after create().
#pragma once

#include "slimcodec/device/bandwidth.hpp"
#include "slimcodec/device/controller.hpp"
#include "slimcodec/device/frame_encoder.hpp"
#include "slimcodec/device/frame_transport.hpp"

#include "slimcodec/wire/detection.hpp"

#include <algorithm>
#include <array>
#include <chrono>

namespace slimcodec::device {

struct DeviceLoopOptions {
  ControllerOptions controller;
  BandwidthOptions bandwidth;
  double prior_bytes_per_s = 50e3;  // assumed until the first reply has measured the link
  quant::EnsembleBoundRule bound_rule;
  std::chrono::milliseconds reply_timeout{10000};  // a frame unanswered this long is a miss; the loop goes on
  // Received boxes are in the model input's pixels (docs/wire-format.md, "Result section"); records hold them
  // multiplied by these, e.g. frame width / model input width, to draw them on the device's own frame.
  float box_scale_x = 1, box_scale_y = 1;
};

struct FrameRecord {
  uint32_t frame_id = 0;
  uint64_t timestamp_us = 0;        // the frame header's timestamp (start_ms in microseconds)
  uint64_t reply_timestamp_us = 0;  // the reply's echo of it (equal for the reply that answers this frame)
  uint64_t digest = 0;              // the reply's digest of the decoded features (wire::digest_features)
  Plan plan = Plan::none;  // split: sent and answered (or timed out); full_offload / local_only: nothing was sent,
                           // the application runs its alternative itself
  unsigned s = 0, b = 0;
  double estimate_bytes_per_s = 0;  // the conservative estimate the decision used
  double predicted_ms = 0;          // the controller's prediction for this frame
  double accuracy = 0;              // expected accuracy of the choice (table value)
  size_t bytes = 0;                 // frame bytes sent
  wire::Codec codec = wire::Codec::raw_bitpack;  // the frame's codec (1: entropy-coded, FrameEncoder tables set)
  double start_ms = 0;              // capture instant, ms since the loop's epoch
  double encode_ms = 0;             // measured encode + quantize + frame
  double send_ms = 0;               // instant the frame went to the transport, ms since the epoch
  double rtt_ms = 0;                // capture -> reply (the deadline is on this)
  double server_ms = 0;             // decode time the server reported
  bool deadline_met = false;
  Errc status = Errc::ok;  // the reply's status, or timed_out
  // The task's result from the reply (empty when the backend has none, on error and on timeout): best first,
  // boxes in the device's frame pixels (DeviceLoopOptions::box_scale_x/y).
  uint16_t detection_count = 0;
  std::array<wire::Detection, wire::kMaxDetections> detections{};
};

template <class Encoder>
class DeviceLoop {
 public:
  using Clock = std::chrono::steady_clock;

  DeviceLoop(Encoder& encoder, FrameTransport& link, OperatingPointTable& table, DeviceLoopOptions options = {})
      : frames_(encoder, options.bound_rule),
        link_(link),
        table_(table),
        options_(options),
        controller_(options.controller),
        bandwidth_(options.bandwidth),
        epoch_(Clock::now()) {}

  Controller& controller() { return controller_; }
  BandwidthEstimator& bandwidth() { return bandwidth_; }
  FrameEncoder<Encoder>& frame_encoder() { return frames_; }
  OperatingPointTable& table() { return table_; }

  // Times in records are ms since this instant (e.g. the start of a link trace).
  void set_epoch(Clock::time_point epoch) { epoch_ = epoch; }
  double now_ms() const { return std::chrono::duration<double, std::milli>(Clock::now() - epoch_).count(); }

  // The bandwidth the next decision will use.
  double planning_bytes_per_s() const {
    return bandwidth_.has_estimate() ? bandwidth_.conservative_bytes_per_s(now_ms()) : options_.prior_bytes_per_s;
  }

  // One frame from a C x H x W input (the encoder's input shape). Errors: encode failures, and transport failures
  // that end the stream (io_error, a bad reply, a stream-level error reply). A reply that does not come within
  // reply_timeout is not an error: the record says timed_out, and the late reply is skipped when it comes.
  Result<FrameRecord> process(const float* input) {
    FrameRecord r;
    r.start_ms = now_ms();
    r.estimate_bytes_per_s = planning_bytes_per_s();
    const Decision d = controller_.decide(table_, r.estimate_bytes_per_s);
    r.plan = d.plan;
    r.predicted_ms = d.predicted_ms;
    r.accuracy = d.accuracy;
    if (d.plan != Plan::split) return r;
    r.s = d.s;
    r.b = d.b;
    if (++last_id_ == 0) last_id_ = 1;  // id 0 is reserved for stream-level error replies
    r.frame_id = last_id_;

    r.timestamp_us = uint64_t(r.start_ms * 1000.0);
    auto frame = frames_.encode(input, d.s, d.b, r.frame_id, r.timestamp_us);
    if (!frame) return frame.error();
    r.bytes = frame->size;
    r.codec = frame->codec;
    r.send_ms = now_ms();
    r.encode_ms = r.send_ms - r.start_ms;
    for (unsigned b = 1; b <= kMaxBits; ++b) table_.observe_encoder_ms(d.s, b, r.encode_ms);  // cost depends on s
    table_.observe_bytes(d.s, d.b, double(frame->size));  // running mean of the sizes sent
    if (auto sent = link_.send_frame(frame->data, frame->size); !sent) return sent.error();

    auto reply = await_reply(r);
    if (!reply) return reply.error();
    return r;
  }

 private:
  Result<void> await_reply(FrameRecord& r) {
    const auto give_up = Clock::now() + options_.reply_timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - Clock::now());
      auto reply = link_.receive_reply(std::max(left, std::chrono::milliseconds(0)));
      if (!reply && reply.code() == Errc::timed_out) {
        r.status = Errc::timed_out;
        r.rtt_ms = now_ms() - r.start_ms;
        // Fewer than r.bytes crossed the link in this time: an upper bound on its rate, and a real signal.
        bandwidth_.add_sample(double(r.bytes) / std::max(now_ms() - r.send_ms, 1.0) * 1000.0, now_ms());
        controller_.on_result(r.predicted_ms, r.rtt_ms);
        return {};
      }
      if (!reply) return reply.error();
      if (reply->frame_id == 0 && reply->status != Errc::ok) return Error{reply->status, "the server rejected the stream"};
      if (reply->frame_id != r.frame_id) continue;  // a late reply to a frame that already timed out
      const double ack_ms = now_ms();
      r.status = reply->status;
      r.rtt_ms = ack_ms - r.start_ms;
      r.server_ms = reply->decode_us / 1000.0;
      r.reply_timestamp_us = reply->timestamp_us;
      r.digest = reply->digest;
      r.deadline_met = r.status == Errc::ok && r.rtt_ms <= controller_.options().deadline_ms;
      if (r.status == Errc::ok) {
        r.detection_count = std::min<uint16_t>(reply->detection_count, uint16_t(wire::kMaxDetections));
        for (size_t i = 0; i < r.detection_count; ++i) {
          wire::Detection d = reply->detections[i];
          d.x1 *= options_.box_scale_x;
          d.x2 *= options_.box_scale_x;
          d.y1 *= options_.box_scale_y;
          d.y2 *= options_.box_scale_y;
          r.detections[i] = d;
        }
      }
      if (r.status == Errc::ok) learn(r, ack_ms);
      controller_.on_result(r.predicted_ms, r.rtt_ms);
      return {};
    }
  }

  void learn(const FrameRecord& r, double ack_ms) {
    bandwidth_.on_ack(double(r.bytes), r.send_ms, ack_ms, r.server_ms, controller_.options().fixed_ms);
    // Server work (dequantize + the same network on the same shape) hardly depends on (s, b): the measured entry
    // is refreshed, entries never measured start from it.
    table_.observe_server_ms(r.s, r.b, r.server_ms);
    for (unsigned s = 1; s <= kMaxMembers; ++s)
      for (unsigned b = 1; b <= kMaxBits; ++b)
        if (table_.at(s, b).server_ms == 0) table_.observe_server_ms(s, b, r.server_ms);
  }

  FrameEncoder<Encoder> frames_;
  FrameTransport& link_;
  OperatingPointTable& table_;
  DeviceLoopOptions options_;
  Controller controller_;
  BandwidthEstimator bandwidth_;
  Clock::time_point epoch_;
  uint32_t last_id_ = 0;
};

}  // namespace slimcodec::device
