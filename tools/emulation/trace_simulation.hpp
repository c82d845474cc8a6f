// Trace-driven simulation of the device loop, for comparing policies (the adaptive controller, each static
// (s, b)) on the same trace and deadline in milliseconds of CPU instead of minutes of real time. Latency model:
// RTT = encode(s) + transfer of the frame integrated over the trace from the send instant + server + fixed
// (+ an optional measured residual per frame). Frames are paced as the demo paces them: one in flight, frame k+1
// starts at max(start_k + interval, end_k).
#pragma once

#include <slimcodec/device/bandwidth.hpp>
#include <slimcodec/device/controller.hpp>
#include <emulation/link_trace.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace slimcodec::emulation {

struct SimCosts {
  std::array<double, device::kMaxMembers> encoder_ms{};  // device time per s (index s - 1)
  double server_ms = 0;
  double fixed_ms = 0;               // per-frame overhead outside the model
  std::vector<double> residual_ms;  // frame k also gets residual_ms[k % size]: measured, unmodelled time

  // Encoder and server times as the table holds them (server: the mean over enabled points that have one).
  static SimCosts from_table(const device::OperatingPointTable& table, double fixed_ms = 0) {
    SimCosts c;
    c.fixed_ms = fixed_ms;
    double sum = 0;
    int n = 0;
    for (unsigned s = 1; s <= device::kMaxMembers; ++s) c.encoder_ms[s - 1] = table.at(s, 1).encoder_ms;
    for (const device::OperatingPoint& p : table.points())
      if (p.enabled && p.server_ms > 0) sum += p.server_ms, ++n;
    c.server_ms = n ? sum / n : 0;
    return c;
  }
};

struct SimOptions {
  double deadline_ms = 400;
  double frame_interval_ms = 0;  // 0: back to back
  double duration_s = 0;         // frames start before this trace time; <= 0: the whole trace
};

struct SimFrame {
  double start_ms = 0, send_ms = 0, end_ms = 0;
  unsigned s = 0, b = 0;
  double bytes = 0, accuracy = 0, estimate_bytes_per_s = 0, predicted_ms = 0;
  bool hit = false;
  double rtt_ms() const { return end_ms - start_ms; }
};

struct SimSummary {
  size_t frames = 0, hits = 0, switches = 0;
  double accuracy_sum = 0, bytes_sum = 0;
  std::vector<double> rtts;

  double hit_rate() const { return frames ? double(hits) / double(frames) : 0; }
  double mean_accuracy() const { return frames ? accuracy_sum / double(frames) : 0; }
  double mean_bytes() const { return frames ? bytes_sum / double(frames) : 0; }
  double mean_rtt_ms() const {
    double sum = 0;
    for (double r : rtts) sum += r;
    return frames ? sum / double(frames) : 0;
  }
  // Nearest-rank quantile of the RTTs (q in [0, 1]).
  double rtt_quantile_ms(double q) const {
    if (rtts.empty()) return 0;
    std::vector<double> sorted = rtts;
    std::sort(sorted.begin(), sorted.end());
    const size_t k = size_t(std::ceil(std::clamp(q, 0.0, 1.0) * double(sorted.size())));
    return sorted[k == 0 ? 0 : k - 1];
  }
};

// ------------------------------ policies
// A policy answers decide(table, now_ms) and learns from on_ack(bytes, send_ms, ack_ms, server_ms, fixed_ms).

struct StaticPolicy {
  unsigned s = 1, b = 1;
  device::Decision decide(const device::OperatingPointTable& table, double) const {
    return device::Decision{device::Plan::split, s, b, 0, table.at(s, b).accuracy};
  }
  void on_ack(double, double, double, double, double) {}
};

// The device loop's decision and learning, without the device.
class AdaptivePolicy {
 public:
  AdaptivePolicy(device::ControllerOptions controller, device::BandwidthOptions bandwidth, double prior_bytes_per_s)
      : controller_(controller), bandwidth_(bandwidth), prior_(prior_bytes_per_s) {}

  device::Decision decide(const device::OperatingPointTable& table, double now_ms) {
    last_estimate_ = bandwidth_.has_estimate() ? bandwidth_.conservative_bytes_per_s(now_ms) : prior_;
    const device::Decision d = controller_.decide(table, last_estimate_);
    start_ms_ = now_ms;
    predicted_ms_ = d.predicted_ms;
    return d;
  }
  void on_ack(double bytes, double send_ms, double ack_ms, double server_ms, double fixed_ms) {
    bandwidth_.on_ack(bytes, send_ms, ack_ms, server_ms, fixed_ms);
    controller_.on_result(predicted_ms_, ack_ms - start_ms_);
  }
  double last_estimate() const { return last_estimate_; }

 private:
  device::Controller controller_;
  device::BandwidthEstimator bandwidth_;
  double prior_, last_estimate_ = 0, start_ms_ = 0, predicted_ms_ = 0;
};

namespace detail {
template <class P>
double estimate_of(const P&) {
  return 0;
}
inline double estimate_of(const AdaptivePolicy& p) { return p.last_estimate(); }
}  // namespace detail

// Runs `policy` over the trace. A frame whose transfer never completes (rate 0 to the end) is a miss and ends it.
template <class Policy>
SimSummary simulate(const LinkTrace& trace, const device::OperatingPointTable& table, const SimCosts& costs,
                    const SimOptions& options, Policy& policy, std::vector<SimFrame>* frames = nullptr) {
  SimSummary sum;
  const double end_ms = 1000.0 * (options.duration_s > 0 ? options.duration_s : trace.duration_s());
  double start = 0;
  unsigned last_s = 0, last_b = 0;
  for (size_t k = 0; start < end_ms; ++k) {
    device::Decision d = policy.decide(table, start);
    if (d.plan != device::Plan::split) d = device::Decision{device::Plan::split, 1, 1, 0, table.at(1, 1).accuracy};  // splits only here
    SimFrame f;
    f.start_ms = start;
    f.s = d.s;
    f.b = d.b;
    f.accuracy = table.at(d.s, d.b).accuracy;
    f.bytes = table.at(d.s, d.b).bytes;
    f.predicted_ms = d.predicted_ms;
    f.estimate_bytes_per_s = detail::estimate_of(policy);
    f.send_ms = start + costs.encoder_ms[d.s - 1];
    const double arrived = 1000.0 * trace.finish_time(f.send_ms / 1000.0, f.bytes);
    const double residual = costs.residual_ms.empty() ? 0 : costs.residual_ms[k % costs.residual_ms.size()];
    f.end_ms = std::max(arrived, arrived + costs.server_ms + costs.fixed_ms + residual);
    f.hit = f.rtt_ms() <= options.deadline_ms;
    ++sum.frames;
    sum.hits += f.hit;
    sum.accuracy_sum += f.accuracy;
    sum.bytes_sum += f.bytes;
    sum.rtts.push_back(f.rtt_ms());
    if (k > 0 && (f.s != last_s || f.b != last_b)) ++sum.switches;
    last_s = f.s, last_b = f.b;
    if (frames) frames->push_back(f);
    if (!std::isfinite(f.end_ms)) break;
    policy.on_ack(f.bytes, f.send_ms, f.end_ms, costs.server_ms, costs.fixed_ms);
    start = std::max(start + options.frame_interval_ms, f.end_ms);
  }
  return sum;
}

}  // namespace slimcodec::emulation
