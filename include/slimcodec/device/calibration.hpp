// Start-up self-calibration: time this device's own encode path for every ensemble size (a few runs, the median,
// so one preemption does not skew it) and seed the operating-point table with it. The device loop then refreshes
// the same entries from every frame's measured time.
#pragma once

#include "slimcodec/device/frame_encoder.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace slimcodec::device {

struct CalibrationOptions {
  int warmup = 1;  // untimed runs per s first (caches, page faults)
  int runs = 5;    // timed runs per s; the median is kept
  unsigned bits = 4;
};

// Median encode ms per s (index s - 1) for s = 1..max_s; also written into `table` for every b of that s.
template <class Encoder>
Result<std::array<double, kMaxMembers>> calibrate_encoder(FrameEncoder<Encoder>& frames, const float* input,
                                                          unsigned max_s, OperatingPointTable& table,
                                                          CalibrationOptions options = {}) {
  if (max_s < 1 || max_s > kMaxMembers) return Error{Errc::ensemble_out_of_range, "calibration s outside 1..4"};
  if (options.runs < 1 || options.warmup < 0) return Error{Errc::invalid_argument, "calibration needs runs >= 1"};
  std::array<double, kMaxMembers> medians{};
  std::vector<double> times(size_t(options.runs));
  for (unsigned s = 1; s <= max_s; ++s) {
    for (int i = 0; i < options.warmup; ++i)
      if (auto f = frames.encode(input, s, options.bits, 0, 0); !f) return f.error();
    for (int i = 0; i < options.runs; ++i) {
      auto f = frames.encode(input, s, options.bits, 0, 0);
      if (!f) return f.error();
      times[size_t(i)] = f->encode_ms;
    }
    std::sort(times.begin(), times.end());
    const size_t n = times.size();
    medians[s - 1] = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    table.calibrate_encoder(s, medians[s - 1]);
  }
  return medians;
}

}  // namespace slimcodec::device
