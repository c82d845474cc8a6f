// The per-frame decision: which (s, b) to run, or whether to offload the whole frame or stay local.
// Latency model (dynamic split computing): T = T_device + bytes / rate + T_server + T_fixed.
// Two objectives: the most accurate choice within the deadline, or the fastest one above an accuracy floor.
// Hysteresis keeps it from flapping between neighbours. No allocation; a decision is a scan of <= 34 entries.
#pragma once

#include "slimcodec/device/operating_points.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace slimcodec::device {

enum class Objective : uint8_t { max_accuracy_within_deadline, fastest_above_accuracy_floor };
enum class Plan : uint8_t { split, full_offload, local_only, none };

// A whole-frame alternative to splitting: full offload (send the compressed image, run the full network on the
// server) or local-only (the application's own on-device model). Disabled unless the application fills it in.
struct Alternative {
  bool enabled = false;
  double device_ms = 0, bytes = 0, server_ms = 0, accuracy = 0;
};

struct ControllerOptions {
  Objective objective = Objective::max_accuracy_within_deadline;
  double deadline_ms = 400;
  double safety_margin = 0.1;     // plan for deadline * (1 - margin)
  double accuracy_floor = 0;      // for fastest_above_accuracy_floor
  double fixed_ms = 0;            // propagation and per-frame overhead not covered by the table
  double upgrade_headroom = 0.1;  // switch to a *more expensive* choice only if it fits with this extra slack
  double min_gain = 0.002;        // ... and gains at least this much accuracy
  // Overshoot feedback (on_result): a frame that took x ms longer than predicted adds an extra margin of
  // overshoot_gain * x / deadline, shrinking by overshoot_decay with each later frame; the larger of the two
  // counts. A link that falls mid-frame is then met with cheaper choices until the estimate has caught up.
  double overshoot_gain = 0;      // 0: off
  double overshoot_decay = 0.5;
};

struct Decision {
  Plan plan = Plan::none;
  unsigned s = 0, b = 0;  // for Plan::split
  double predicted_ms = 0;
  double accuracy = 0;
};

class Controller {
 public:
  explicit Controller(ControllerOptions options = {}) : options_(options) {}

  ControllerOptions& options() { return options_; }
  Alternative& full_offload() { return offload_; }
  Alternative& local_only() { return local_; }

  static double predict_ms(double device_ms, double bytes, double server_ms, double bytes_per_s, double fixed_ms) {
    const double transfer = bytes > 0 ? (bytes_per_s > 0 ? bytes / bytes_per_s * 1000.0 : std::numeric_limits<double>::infinity()) : 0;
    return device_ms + transfer + server_ms + fixed_ms;
  }

  // Feedback for a finished frame: what decide() predicted and the RTT it took (a timed-out frame counts with the
  // time it was given).
  void on_result(double predicted_ms, double rtt_ms) {
    if (!std::isfinite(predicted_ms) || !std::isfinite(rtt_ms)) return;  // says nothing: ignored
    const double over = options_.deadline_ms > 0 ? (rtt_ms - predicted_ms) / options_.deadline_ms : 0;
    const double extra = std::max(extra_margin_ * options_.overshoot_decay, options_.overshoot_gain * over);
    extra_margin_ = std::min(extra, 1.0);
  }
  double extra_margin() const { return extra_margin_; }

  // Picks the plan for the next frame given the (conservative) bandwidth estimate.
  Decision decide(const OperatingPointTable& table, double bytes_per_s) {
    constexpr double kMaxMargin = 0.9;  // some budget always remains, so the fastest choice still wins
    const double budget = options_.deadline_ms * (1.0 - std::min(kMaxMargin, options_.safety_margin + extra_margin_));
    Decision best;
    auto consider = [&](Plan plan, unsigned s, unsigned b, double device_ms, double bytes, double server_ms,
                        double accuracy) {
      const double t = predict_ms(device_ms, bytes, server_ms, bytes_per_s, options_.fixed_ms);
      Decision d{plan, s, b, t, accuracy};
      if (better(d, best, budget)) best = d;
    };
    for (const OperatingPoint& p : table.points())
      if (p.enabled) consider(Plan::split, p.s, p.b, p.encoder_ms, p.bytes, p.server_ms, p.accuracy);
    if (offload_.enabled)
      consider(Plan::full_offload, 0, 0, offload_.device_ms, offload_.bytes, offload_.server_ms, offload_.accuracy);
    if (local_.enabled) consider(Plan::local_only, 0, 0, local_.device_ms, 0, 0, local_.accuracy);

    // Hysteresis: keep the previous choice while it still fits, unless the new one is clearly better and fits
    // with headroom. Dropping to a cheaper choice when the current one no longer fits is immediate.
    if (last_.plan != Plan::none && best.plan != Plan::none && !same(best, last_)) {
      const Decision kept = refresh(last_, table, bytes_per_s);
      if (kept.plan != Plan::none && kept.predicted_ms <= budget && fits_objective(kept)) {
        const bool clear_gain = options_.objective == Objective::max_accuracy_within_deadline
                                    ? best.accuracy >= kept.accuracy + options_.min_gain &&
                                          best.predicted_ms <= budget * (1.0 - options_.upgrade_headroom)
                                    : best.predicted_ms <= kept.predicted_ms * (1.0 - options_.upgrade_headroom);
        if (!clear_gain) best = kept;
      }
    }
    last_ = best;
    return best;
  }

 private:
  bool fits_objective(const Decision& d) const {
    return options_.objective == Objective::max_accuracy_within_deadline || d.accuracy >= options_.accuracy_floor;
  }

  // Is a better than b? Feasible beats infeasible; among feasible, the objective decides; among infeasible, the
  // fastest wins (nothing fits: miss by as little as possible).
  bool better(const Decision& a, const Decision& b, double budget) const {
    if (b.plan == Plan::none) return true;
    const bool fa = a.predicted_ms <= budget && fits_objective(a), fb = b.predicted_ms <= budget && fits_objective(b);
    if (fa != fb) return fa;
    if (!fa) return a.predicted_ms < b.predicted_ms;
    if (options_.objective == Objective::max_accuracy_within_deadline) {
      if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
      return a.predicted_ms < b.predicted_ms;
    }
    if (a.predicted_ms != b.predicted_ms) return a.predicted_ms < b.predicted_ms;
    return a.accuracy > b.accuracy;
  }

  static bool same(const Decision& a, const Decision& b) { return a.plan == b.plan && a.s == b.s && a.b == b.b; }

  // The previous decision re-predicted with the current table and bandwidth.
  Decision refresh(const Decision& d, const OperatingPointTable& table, double bytes_per_s) const {
    Decision r = d;
    switch (d.plan) {
      case Plan::split: {
        const OperatingPoint& p = table.at(d.s, d.b);
        if (!p.enabled) return Decision{};
        r.predicted_ms = predict_ms(p.encoder_ms, p.bytes, p.server_ms, bytes_per_s, options_.fixed_ms);
        r.accuracy = p.accuracy;
        break;
      }
      case Plan::full_offload:
        if (!offload_.enabled) return Decision{};
        r.predicted_ms = predict_ms(offload_.device_ms, offload_.bytes, offload_.server_ms, bytes_per_s, options_.fixed_ms);
        break;
      case Plan::local_only:
        if (!local_.enabled) return Decision{};
        r.predicted_ms = predict_ms(local_.device_ms, 0, 0, bytes_per_s, options_.fixed_ms);
        break;
      case Plan::none: return Decision{};
    }
    return r;
  }

  ControllerOptions options_;
  Alternative offload_, local_;
  Decision last_;
  double extra_margin_ = 0;
};

}  // namespace slimcodec::device
