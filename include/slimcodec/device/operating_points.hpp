// The operating-point table: for every (s, b) what a frame costs (encoder ms on this device, bytes on the
// wire, server decode ms) and what it buys (expected accuracy). Costs are measured and refreshed online;
// accuracy comes from the training table. Fixed-size, no allocation.
#pragma once

#include "slimcodec/codec.hpp"

#include <array>
#include <cstddef>

namespace slimcodec::device {

// The table covers s = 1..kMaxMembers (the paper's encoder has 4 members; the frame format allows up to
// wire::kMaxEnsemble) and every b the quantizer packs.
inline constexpr unsigned kMaxMembers = 4;
static_assert(kMaxMembers <= wire::kMaxEnsemble, "every s in the table must fit in a frame");
using quant::kMaxBits;

struct OperatingPoint {
  unsigned s = 1, b = 1;
  double encoder_ms = 0;  // device time to encode + quantize + frame
  double bytes = 0;       // frame bytes on the wire: the running mean of frames sent (codec 1 varies per frame),
                          // the bit-packed size (an upper bound) until the first is sent
  size_t bytes_samples = 0;  // frames that went into `bytes`
  double server_ms = 0;   // decode time the server reports
  double accuracy = 0;    // expected task accuracy (e.g. mAP), from the training table
  bool enabled = false;   // has an accuracy and is allowed
};

class OperatingPointTable {
 public:
  // Bytes per (s, b) start at the bit-packed frame size for a C x H x W bottleneck (what codec 0 sends, and the
  // most codec 1 sends) and then follow the frames actually sent: their mean over the last `bytes_window`.
  explicit OperatingPointTable(size_t values = 6 * 96 * 96, double smoothing = 0.2, size_t bytes_window = 32)
      : smoothing_(smoothing), bytes_window_(bytes_window < 1 ? 1 : bytes_window) {
    for (unsigned s = 1; s <= kMaxMembers; ++s)
      for (unsigned b = 1; b <= kMaxBits; ++b) {
        OperatingPoint& p = at(s, b);
        p.s = s;
        p.b = b;
        p.bytes = double(max_frame_size(values, b));
      }
  }

  OperatingPoint& at(unsigned s, unsigned b) { return points_[(s - 1) * kMaxBits + (b - 1)]; }
  const OperatingPoint& at(unsigned s, unsigned b) const { return points_[(s - 1) * kMaxBits + (b - 1)]; }
  const std::array<OperatingPoint, kMaxMembers * kMaxBits>& points() const { return points_; }

  void set_accuracy(unsigned s, unsigned b, double accuracy) {
    at(s, b).accuracy = accuracy;
    at(s, b).enabled = true;
  }

  // Online refresh: the first measurement sets the value, later ones move it by `smoothing`.
  void observe_encoder_ms(unsigned s, unsigned b, double ms) { blend(at(s, b).encoder_ms, ms); }
  void observe_server_ms(unsigned s, unsigned b, double ms) { blend(at(s, b).server_ms, ms); }
  // A frame of `bytes` sent at (s, b): the exact mean of the first bytes_window frames, then a running mean
  // with weight 1/bytes_window (self-calibrating: entropy-coded sizes depend on the scene).
  void observe_bytes(unsigned s, unsigned b, double bytes) {
    OperatingPoint& p = at(s, b);
    if (p.bytes_samples < bytes_window_) ++p.bytes_samples;
    p.bytes = p.bytes_samples == 1 ? bytes : p.bytes + (bytes - p.bytes) / double(p.bytes_samples);
  }

  // Encoder cost depends on s only (quantization is a few microseconds); seed every b of that s.
  void calibrate_encoder(unsigned s, double ms) {
    for (unsigned b = 1; b <= kMaxBits; ++b) at(s, b).encoder_ms = ms;
  }

 private:
  void blend(double& slot, double v) { slot = slot == 0 ? v : slot + smoothing_ * (v - slot); }
  std::array<OperatingPoint, kMaxMembers * kMaxBits> points_{};
  double smoothing_;
  size_t bytes_window_;
};

}  // namespace slimcodec::device
