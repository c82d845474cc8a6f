// Link bandwidth estimate from frame send/ack timing: a time-decayed EWMA (so an idle period lets the next
// samples take over quickly) fed through a median of three (so one outlier never moves it), and a conservative
// estimate: a low quantile of the recent samples, optionally capped by the latest median of three so that a link
// that is fading is followed within two frames, and lowered further in proportion to how much the link has been
// varying (as TCP's retransmission timer adds four mean deviations). Fixed memory, no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

namespace slimcodec::device {

struct BandwidthOptions {
  double tau_ms = 2000;          // EWMA time constant: a sample dt ms after the last one gets weight 1-exp(-dt/tau)
  double max_sample_age_ms = 10000;  // window samples older than this do not count for the quantile
  double quantile = 0.2;         // conservative estimate: this quantile of the recent samples
  double min_transfer_ms = 0.05;  // below this the timing says nothing about bandwidth (sample ignored)
  bool follow_recent = true;      // conservative estimate never above the median of the last three samples
  bool follow_latest = false;     // ... nor above the latest sample (faster on a fading link; one low outlier
                                  // then costs one cautious frame)
  double deviation_weight = 0;    // conservative estimate times exp(-weight * mean |ln(sample / EWMA)|)
};

class BandwidthEstimator {
 public:
  static constexpr size_t kWindow = 16;

  explicit BandwidthEstimator(BandwidthOptions options = {}) : options_(options) {}

  // One frame: `bytes` sent at send_ms, acknowledged at ack_ms, of which server_ms was spent decoding and
  // fixed_ms is the known non-transfer time (propagation, device-side overhead). Times in ms on one clock.
  void on_ack(double bytes, double send_ms, double ack_ms, double server_ms = 0, double fixed_ms = 0) {
    const double transfer_ms = ack_ms - send_ms - server_ms - fixed_ms;
    if (!(bytes > 0) || !(transfer_ms >= options_.min_transfer_ms)) return;
    add_sample(bytes / transfer_ms * 1000.0, ack_ms);
  }

  // A direct rate sample in bytes/s observed at now_ms.
  void add_sample(double bytes_per_s, double now_ms) {
    if (!(bytes_per_s > 0) || !std::isfinite(bytes_per_s)) return;
    recent3_[count3_ % 3] = bytes_per_s;
    ++count3_;
    const double filtered = count3_ < 3 ? bytes_per_s : median3(recent3_[0], recent3_[1], recent3_[2]);
    recent_ = filtered;
    latest_ = bytes_per_s;
    if (samples_ == 0) {
      ewma_ = filtered;
    } else {
      const double dt = std::max(0.0, now_ms - last_ms_);
      const double w = 1.0 - std::exp(-std::max(dt, 1.0) / options_.tau_ms);
      deviation_ += w * (std::fabs(std::log(bytes_per_s / ewma_)) - deviation_);  // before the EWMA moves
      ewma_ += w * (filtered - ewma_);
    }
    window_[head_] = {bytes_per_s, now_ms};
    head_ = (head_ + 1) % kWindow;
    samples_ = std::min(samples_ + 1, kWindow);
    last_ms_ = now_ms;
  }

  bool has_estimate() const { return samples_ > 0; }
  double ewma_bytes_per_s() const { return ewma_; }
  double mean_log_deviation() const { return deviation_; }  // time-weighted mean |ln(sample / EWMA)|

  // The chosen low quantile of the samples no older than max_sample_age_ms at now_ms; the EWMA when the window
  // holds fewer than 3 fresh samples (too few for a quantile to mean anything), never above the EWMA, and with
  // follow_recent never above the median of the last three samples either; then lowered by the link's variability
  // (deviation_weight; 0 leaves it as is).
  double conservative_bytes_per_s(double now_ms) const {
    std::array<double, kWindow> fresh{};
    size_t n = 0;
    for (size_t i = 0; i < samples_; ++i)
      if (now_ms - window_[i].at_ms <= options_.max_sample_age_ms) fresh[n++] = window_[i].rate;
    double cap = options_.follow_recent && n > 0 ? std::min(ewma_, recent_) : ewma_;
    if (options_.follow_latest && n > 0) cap = std::min(cap, latest_);
    const double caution = std::exp(-options_.deviation_weight * deviation_);
    if (n < 3) return cap * caution;
    const size_t k = std::min(n - 1, size_t(options_.quantile * double(n - 1) + 0.5));
    std::nth_element(fresh.begin(), fresh.begin() + k, fresh.begin() + n);
    return std::min(fresh[k], cap) * caution;
  }

 private:
  struct Sample {
    double rate = 0, at_ms = 0;
  };
  static double median3(double a, double b, double c) { return std::max(std::min(a, b), std::min(std::max(a, b), c)); }

  BandwidthOptions options_;
  std::array<Sample, kWindow> window_{};
  size_t head_ = 0, samples_ = 0;
  std::array<double, 3> recent3_{};
  size_t count3_ = 0;
  double ewma_ = 0, last_ms_ = 0, recent_ = 0, latest_ = 0, deviation_ = 0;
};

}  // namespace slimcodec::device
