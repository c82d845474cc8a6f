#include "options.hpp"

#include <slimcodec/device/operating_points.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace slimcodec::adaptive_demo {

using namespace slimcodec::device;

namespace {

constexpr const char* kUsage = R"(usage: slimcodec-adaptive-demo [options]

The adaptive runtime end to end, in real time: for each deadline, frames are encoded on an EMULATED Raspberry-Pi-class
device (the encoder really runs, then the device sleeps so that it costs --device-slowdown times its CPU time), sent
through a link shaper that plays a Bluetooth-class bandwidth trace, decoded by the decode service, and answered; the
controller picks (s, b) per frame from the measured bandwidth and costs. Then the same trace and deadlines are
replayed in the trace-driven simulator for the adaptive controller and every static (s, b), which gives the
comparison table. Writes frames.csv, simulation.csv, summary.md and adaptive.png to --out.

options:
  --images PATH...        images or folders of .png/.jpg (default: scikit-image's rocket, chelsea, coffee and
                          astronaut from Debian python3-skimage if installed, else tests/data, else synthetic)
  --trace FILE            bandwidth trace (default traces/office_walk.csv; format in docs/adaptive.md)
  --start S               play the trace from S seconds (default 0)
  --duration S            seconds of trace per deadline in real time (default 40)
  --time-scale X          play the trace X times faster (default 1: real time)
  --deadlines A,B,...     RTT deadlines in ms (default 300,400,600)
  --interval-ms X         frame period; 0 = one frame per deadline (default 0). A frame starts at the later of
                          its slot and the previous reply.
  --accuracy FILE         accuracy table JSON (default docs/accuracy-centernet-256-cpu.json, measured for the
                          published weights; docs/accuracy-paper.json is the paper's Table I, for reference)
  --weights FILE          encoder weights (default the published training/weights/slimcodec-centernet-256-cpu)
  --codec 0|1             0: bit-packed frames (default); 1: entropy-coded frames (rANS, docs/entropy.md) with the
                          tables of --entropy-tables, else the ones beside the weights (W.entropy.safetensors); a
                          frame whose b has no table, or that codes no smaller, goes as codec 0. The in-process
                          decode service gets the same tables (a --service must be started with them)
  --entropy-tables FILE   codec-1 tables (entropy.b{b}, entropy.table_id; slimcodec-fit-entropy-tables); implies
                          --codec 1
  --device-slowdown X     emulated device: encode costs X times the measured CPU time (default: chosen so that
                          s=1 costs the paper's Raspberry Pi 4 time, 66 ms per member)
  --encoder-ms A,B,C,D    simulation: use these encode times for s=1..4 instead of the calibrated ones (e.g. the
                          paper's RPi4 66,134,203,265; with --sim-only or --sweep, for runs that repeat exactly)
  --server-ms X           emulated server: pad each decode to at least X ms (default 50: a GPU-class server running
                          the reconstructor and the rest of the detector); 0 = the backend's own time
  --backend NAME          decoder backend of the in-process service: identity or native (default identity;
                          native is the C++ reconstructor with tests/data weights: slow on a small CPU)
  --service HOST:PORT     use a running slimcodec-decode-service instead of the in-process one
  --link shaper|tc        the emulated link: the in-process link shaper (default), or the kernel's traffic control
                          (tc tbf on a veth pair into a network namespace where the decode service listens,
                          re-rated at each trace row; needs root with CAP_NET_ADMIN and iproute2; exit status
                          77 when the machine does not allow it)
  --margin X              controller safety margin, fraction of the deadline (default 0.05)
  --quantile X            bandwidth estimator's conservative quantile (default 0.3)
  --headroom X            controller hysteresis: upgrade only with this much extra slack (default 0.05)
  --tau-ms X              bandwidth estimator's EWMA time constant (default 2000)
  --deviation X           bandwidth estimator: lower the estimate by exp(-X * the link's mean log deviation)
                          (default 0: off)
  --overshoot-gain X      controller: after a frame X ms over its prediction, plan with an extra margin of X *
                          gain / deadline (default 1)
  --overshoot-decay X     ... shrinking by this factor per frame (default 0.5)
  --no-follow             bandwidth estimator: cap by neither the median of the last three samples nor the latest
  --follow-latest         bandwidth estimator: also cap by the latest sample
  --prior X               bytes/s assumed before the first reply (default 80000: the band's floor)
  --out DIR               output folder (default adaptive-out)
  --no-plot               do not run scripts/plot_adaptive.py
  --quiet                 no per-frame lines
  --sim-only              skip the real-time runs (simulation with calibrated costs only)
  --residuals FILE        with --sweep or --sim-only: replay the latency-model residuals (real RTT minus model) of
                          an earlier run's frames.csv, so tuning sees the real run's jitter
  --sweep                 simulation-only grid over margin, quantile, headroom and tau (for tuning; run it on
                          traces/office_walk_tune.csv, not on the trace you report)
  --help                  this text
)";

bool parse_list(const std::string& s, std::vector<double>& out) {
  out.clear();
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = s.find(',', pos);
    double v = 0;
    if (!parse_double(s.substr(pos, comma - pos).c_str(), v) || !(v > 0)) return false;
    out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return !out.empty();
}

int usage_error(const std::string& what) {
  std::fprintf(stderr, "slimcodec-adaptive-demo: %s\n(--help for usage)\n", what.c_str());
  return 2;
}

// The codec-1 tables published beside a weights file: W.safetensors -> W.entropy.safetensors.
std::string entropy_tables_beside(const std::string& weights) {
  const std::string ext = ".safetensors";
  const bool has_ext =
      weights.size() > ext.size() && weights.compare(weights.size() - ext.size(), ext.size(), ext) == 0;
  return (has_ext ? weights.substr(0, weights.size() - ext.size()) : weights) + ".entropy.safetensors";
}

}  // namespace

bool parse_double(const char* s, double& out) {
  char* end = nullptr;
  out = std::strtod(s, &end);
  return end != s && *end == '\0' && std::isfinite(out);
}

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage_error(arg + " needs a value");
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](double& out, double lo, double hi) {
      const char* v = value();
      if (!parse_double(v, out) || out < lo || out > hi) {
        usage_error("bad value for " + arg + ": " + v);
        std::exit(2);
      }
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--images") {
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) o.images.push_back(argv[++i]);
    } else if (arg == "--trace") {
      o.trace = value();
    } else if (arg == "--start") {
      number(o.start_s, 0, 1e7);
    } else if (arg == "--duration") {
      number(o.duration_s, 1, 1e7);
    } else if (arg == "--time-scale") {
      number(o.time_scale, 0.01, 1000);
    } else if (arg == "--deadlines") {
      if (!parse_list(value(), o.deadlines)) return usage_error("--deadlines needs positive numbers, e.g. 300,400,600");
    } else if (arg == "--interval-ms") {
      number(o.interval_ms, 0, 1e6);
    } else if (arg == "--accuracy") {
      o.accuracy = value();
    } else if (arg == "--weights") {
      o.weights = value();
    } else if (arg == "--codec") {
      const std::string v = value();
      if (v != "0" && v != "1") return usage_error("--codec takes 0 (bit-packed) or 1 (entropy-coded)");
      o.codec = v == "1";
    } else if (arg == "--entropy-tables") {
      o.entropy_tables = value();
    } else if (arg == "--device-slowdown") {
      number(o.slowdown, 1, 1e4);
    } else if (arg == "--encoder-ms") {
      if (!parse_list(value(), o.encoder_ms) || o.encoder_ms.size() != kMaxMembers) return usage_error("--encoder-ms needs one time per s");
    } else if (arg == "--server-ms") {
      number(o.server_ms, 0, 1e5);
    } else if (arg == "--backend") {
      o.backend = value();
    } else if (arg == "--link") {
      const std::string v = value();
      if (v != "shaper" && v != "tc") return usage_error("--link takes shaper or tc");
      o.tc_link = v == "tc";
    } else if (arg == "--service") {
      const std::string hp = value();
      const size_t colon = hp.rfind(':');
      double port = 0;
      if (colon == std::string::npos || !parse_double(hp.substr(colon + 1).c_str(), port) || port < 1 || port > 65535)
        return usage_error("--service needs HOST:PORT");
      o.service_host = hp.substr(0, colon);
      o.service_port = uint16_t(port);
    } else if (arg == "--margin") {
      number(o.margin, 0, 0.9);
    } else if (arg == "--quantile") {
      number(o.quantile, 0, 1);
    } else if (arg == "--headroom") {
      number(o.headroom, 0, 0.9);
    } else if (arg == "--tau-ms") {
      number(o.tau_ms, 1, 1e6);
    } else if (arg == "--deviation") {
      number(o.deviation_weight, 0, 100);
    } else if (arg == "--overshoot-gain") {
      number(o.overshoot_gain, 0, 100);
    } else if (arg == "--overshoot-decay") {
      number(o.overshoot_decay, 0, 0.99);
    } else if (arg == "--follow-latest") {
      o.follow_latest = true;
    } else if (arg == "--no-follow") {
      o.follow_recent = false;
      o.follow_latest = false;
    } else if (arg == "--prior") {
      number(o.prior, 1, 1e12);
    } else if (arg == "--out") {
      o.out = value();
    } else if (arg == "--no-plot") {
      o.plot = false;
    } else if (arg == "--quiet") {
      o.quiet = true;
    } else if (arg == "--sim-only") {
      o.sim_only = true;
    } else if (arg == "--residuals") {
      o.residuals = value();
    } else if (arg == "--sweep") {
      o.sweep = true;
      o.sim_only = true;
    } else {
      return usage_error("unknown option " + arg);
    }
  }
  if (o.codec == 0 && !o.entropy_tables.empty()) return usage_error("--entropy-tables is for --codec 1");
  if (o.codec < 0) o.codec = o.entropy_tables.empty() ? 0 : 1;
  if (o.codec == 1 && o.entropy_tables.empty()) o.entropy_tables = entropy_tables_beside(o.weights);
  if (o.tc_link && !o.service_host.empty())
    return usage_error("--link tc runs the decode service in its own network namespace: not with --service");
  return std::nullopt;
}

ControllerOptions controller_options(const Options& o, double deadline) {
  ControllerOptions c;
  c.deadline_ms = deadline;
  c.safety_margin = o.margin;
  c.upgrade_headroom = o.headroom;
  c.overshoot_gain = o.overshoot_gain;
  c.overshoot_decay = o.overshoot_decay;
  return c;
}

BandwidthOptions bandwidth_options(const Options& o) {
  BandwidthOptions b;
  b.quantile = o.quantile;
  b.tau_ms = o.tau_ms;
  b.follow_recent = o.follow_recent;
  b.follow_latest = o.follow_latest;
  b.deviation_weight = o.deviation_weight;
  return b;
}

double frame_interval(const Options& o, double deadline) { return o.interval_ms > 0 ? o.interval_ms : deadline; }

}  // namespace slimcodec::adaptive_demo
