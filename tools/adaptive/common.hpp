// What the parts of slimcodec-adaptive-demo share: the scenario every run plays, what the real-time runs measure,
// the codec-1 tables, a median.
#pragma once

#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/device/device_loop.hpp>
#include <slimcodec/entropy/tables.hpp>
#include <emulation/link_trace.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace slimcodec::adaptive_demo {

using namespace slimcodec::device;
using namespace slimcodec::emulation;
using Clock = std::chrono::steady_clock;

// --codec 1: the entropy tables, shared by the device and the in-process decode service; null for codec 0.
using SharedTables = std::shared_ptr<const entropy::TableSet>;

// What every run plays: the accuracy table and the trace (as read, time-scaled, and the segment played in real
// time).
struct Scenario {
  AccuracyTable accuracy;
  LinkTrace full_raw, full, segment;
};

// One frame of a real-time run, with what the comparison with the simulator needs.
struct RealFrame {
  double deadline_ms = 0;
  FrameRecord r;
  double link_rate = 0;  // the trace's rate at the send instant
  double model_rtt = 0;  // the simulator's latency model for this very frame (same start, s, b, measured costs)
};

// What the real-time runs measured: every frame, and every server time (warm-up frames included).
struct RealTimeResults {
  std::vector<RealFrame> frames;
  std::vector<double> server_samples;
};

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace slimcodec::adaptive_demo
