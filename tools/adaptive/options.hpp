// slimcodec-adaptive-demo's command line: the options, their defaults and the settings made from them.
#pragma once

#include <slimcodec/device/bandwidth.hpp>
#include <slimcodec/device/controller.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#ifndef SLIMCODEC_SOURCE_DIR
#define SLIMCODEC_SOURCE_DIR "."
#endif

namespace slimcodec::adaptive_demo {

// The checkout the demo's default files come from (traces, accuracy tables, weights, scripts).
inline const std::string kSource = SLIMCODEC_SOURCE_DIR;

struct Options {
  std::vector<std::string> images;
  std::string trace = kSource + "/traces/office_walk.csv";
  double start_s = 0, duration_s = 40, time_scale = 1;
  std::vector<double> deadlines = {300, 400, 600};
  double interval_ms = 0;
  std::string accuracy = kSource + "/docs/accuracy-centernet-256-cpu.json";
  std::string weights = kSource + "/training/weights/slimcodec-centernet-256-cpu.safetensors";
  int codec = -1;              // 0: bit-packed, 1: entropy-coded with the tables below; -1: not given (0, or 1
                               // with --entropy-tables)
  std::string entropy_tables;  // empty with codec 1: the file beside the weights
  double slowdown = 0;  // 0: automatic
  std::vector<double> encoder_ms;  // given: used instead of the calibrated times in the simulation
  std::string residuals;           // frames.csv of an earlier run: its model residuals feed --sweep / --sim-only
  double server_ms = 50;
  std::string backend = "identity";
  std::string service_host;
  bool tc_link = false;
  uint16_t service_port = 0;
  // Tuned on traces/office_walk_tune.csv with --sweep (docs/adaptive.md, "Tuning"), never on the reported trace.
  double margin = 0.05, quantile = 0.3, headroom = 0.05, tau_ms = 2000;
  bool follow_recent = true, follow_latest = false;
  double deviation_weight = 0;
  double overshoot_gain = 1, overshoot_decay = 0.5;
  double prior = 80e3;
  std::string out = "adaptive-out";
  bool plot = true, quiet = false, sim_only = false, sweep = false;
};

// Reads the options into o. Returns an exit status when the program should stop here (--help, a usage error).
std::optional<int> parse_options(int argc, char** argv, Options& o);

// The whole text is one finite number.
bool parse_double(const char* s, double& out);

device::ControllerOptions controller_options(const Options& o, double deadline);
device::BandwidthOptions bandwidth_options(const Options& o);
double frame_interval(const Options& o, double deadline);

}  // namespace slimcodec::adaptive_demo
