// slimcodec-adaptive-demo: the adaptive runtime end to end. Real images -> the slimmable encoder on an emulated
// Raspberry-Pi-class device -> frames over a Bluetooth-class link (a bandwidth trace played by the link shaper) ->
// the decode service -> replies, with the deadline controller choosing (s, b) per frame; then the same trace and
// deadlines replayed in the trace-driven simulator for the adaptive controller and all 16 static configurations.
#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/device/calibration.hpp>
#include <slimcodec/device/device_loop.hpp>
#include <emulation/link_shaper.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <emulation/trace_simulation.hpp>
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/server/callback.hpp>
#include <slimcodec/server/native.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/server/tcp_service.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#include <slimcodec/weights/safetensors.hpp>
#ifndef SLIMCODEC_DEMO_NO_IMAGES
#include <slimcodec/io/image.hpp>
#endif

#include <emulation/tc_link.hpp>

#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#ifndef SLIMCODEC_SOURCE_DIR
#define SLIMCODEC_SOURCE_DIR "."
#endif

namespace {

using namespace slimcodec;
using namespace slimcodec::device;
using namespace slimcodec::emulation;
using PaperEncoder = model::Encoder<layers::paper::Encoder>;
static_assert(layers::paper::Encoder::kMembers == int(kMaxMembers), "the table covers every s");
using Clock = std::chrono::steady_clock;

const std::string kSource = SLIMCODEC_SOURCE_DIR;

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

constexpr double kPaperMemberMs = 66;
constexpr int kLinkUnavailable = 77;  // --link tc on a machine without network namespaces or tc (ctest: skipped)  // paper, RPi4 TorchScript, one member

// ------------------------------ command line

bool parse_double(const char* s, double& out) {
  char* end = nullptr;
  out = std::strtod(s, &end);
  return end != s && *end == '\0' && std::isfinite(out);
}

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

// ------------------------------ emulated device and server

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

// The encoder as a slower device runs it: the real encode, then a sleep up to `slowdown` times its CPU time. CPU
// time, not wall time, so time stolen by other processes on a shared machine is not multiplied too.
class EmulatedDevice {
 public:
  EmulatedDevice(PaperEncoder& encoder, double slowdown) : encoder_(encoder), slowdown_(slowdown) {}
  Result<void> set_active(int s) { return encoder_.set_active(s); }
  layers::Shape out_shape() const { return encoder_.out_shape(); }
  void set_slowdown(double x) { slowdown_ = x; }
  double last_cpu_ms() const { return last_cpu_ms_; }
  void encode(const float* in, float* out) {
    const auto wall = Clock::now();
    const double cpu = thread_cpu_ms();
    encoder_.encode(in, out);
    last_cpu_ms_ = thread_cpu_ms() - cpu;
    if (slowdown_ > 1)
      std::this_thread::sleep_until(wall + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double, std::milli>(slowdown_ * last_cpu_ms_)));
  }

 private:
  PaperEncoder& encoder_;
  double slowdown_;
  double last_cpu_ms_ = 0;
};

// A backend that runs another one, then pads the decode to at least pad_ms: a faster (GPU) server's time on a
// machine that has none. The reply's decode_us includes the pad, so the device learns it like any server time.
class PaddedBackend final : public server::DecoderBackend {
 public:
  PaddedBackend(std::unique_ptr<server::DecoderBackend> inner, double pad_ms) : inner_(std::move(inner)), pad_ms_(pad_ms) {}
  std::string_view name() const override { return "emulated-server"; }

 protected:
  Result<server::FeatureMap> run(const float* features, Shape shape) override {
    const auto start = Clock::now();
    auto out = inner_->decode(features, shape);
    if (!out) return out.error();
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double, std::milli>(pad_ms_)));
    return out->features;
  }

 private:
  std::unique_ptr<server::DecoderBackend> inner_;
  double pad_ms_;
};

Result<std::unique_ptr<server::DecoderBackend>> make_padded_backend(const server::BackendOptions& o) {
  auto inner_name = o.find("inner");
  auto pad = o.find("pad_ms");
  if (inner_name == o.end() || pad == o.end()) return Error{Errc::invalid_argument, "emulated-server: inner and pad_ms"};
  auto inner = server::BackendRegistry::global().create(inner_name->second, o);
  if (!inner) return inner.error();
  return std::unique_ptr<server::DecoderBackend>(new PaddedBackend(std::move(*inner), std::atof(pad->second.c_str())));
}

// ------------------------------ images

bool has_suffix(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && std::equal(s.end() - long(n), s.end(), suffix, [](char a, char b) { return std::tolower(a) == b; });
}

bool is_file(const std::string& p) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> expand_paths(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const std::string& p : in) {
    if (DIR* d = opendir(p.c_str())) {
      std::vector<std::string> files;
      while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (has_suffix(name, ".png") || has_suffix(name, ".jpg") || has_suffix(name, ".jpeg")) files.push_back(p + "/" + name);
      }
      closedir(d);
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

// A smooth colour pattern, different per index, preprocessed like an image (mean 0, unit-ish spread).
std::vector<float> synthetic_input(int index) {
  const int h = layers::paper::kInput.h, w = layers::paper::kInput.w;
  std::vector<float> x(size_t(3) * h * w);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        x[(size_t(c) * h + i) * w + j] = 1.5f * std::sin(0.03f * float(i * (c + 1) + j * (index + 1)) + float(index));
  return x;
}

std::vector<std::vector<float>> load_inputs(const Options& o) {
  std::vector<std::string> paths;
  if (!o.images.empty()) {
    paths = expand_paths(o.images);
  } else {
    const std::string skimage = "/usr/lib/python3/dist-packages/skimage/data/";
    for (const char* n : {"rocket.jpg", "chelsea.png", "coffee.png", "astronaut.png"})
      if (is_file(skimage + n)) paths.push_back(skimage + n);
    if (paths.empty())
      for (const char* n : {"preprocess_rgb.png", "preprocess_rgb.jpg"})
        if (is_file(kSource + "/tests/data/" + n)) paths.push_back(kSource + "/tests/data/" + n);
  }
  std::vector<std::vector<float>> inputs;
  const auto in = layers::paper::kInput;
#ifndef SLIMCODEC_DEMO_NO_IMAGES
  for (const std::string& p : paths) {
    auto img = io::load_image(p);
    std::vector<float> x(size_t(in.size()));
    if (!img || !io::preprocess_image(*img, x.data(), size_t(in.h), size_t(in.w))) {
      std::printf("  skipping %s: %s\n", p.c_str(), img ? "cannot preprocess" : img.error().what());
      continue;
    }
    std::printf("  image %s (%zux%zu)\n", p.c_str(), img->width, img->height);
    inputs.push_back(std::move(x));
  }
#else
  if (!paths.empty()) std::printf("  built without an image loader (stb): using synthetic images\n");
#endif
  if (inputs.empty()) {
    std::printf("  no images found: 4 synthetic %dx%d inputs\n", int(in.w), int(in.h));
    for (int i = 0; i < 4; ++i) inputs.push_back(synthetic_input(i));
  }
  return inputs;
}

// ------------------------------ runs

struct RealFrame {
  double deadline_ms = 0;
  FrameRecord r;
  double link_rate = 0;  // the trace's rate at the send instant
  double model_rtt = 0;  // the simulator's latency model for this very frame (same start, s, b, measured costs)
};

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

// The latency model for one frame: encode + transfer integrated over the trace from the send instant + server.
double model_rtt_ms(const LinkTrace& trace, double start_ms, double encode_ms, double bytes, double server_ms) {
  const double send = start_ms + encode_ms;
  return 1000.0 * trace.finish_time(send / 1000.0, bytes) + server_ms - start_ms;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::string config_name(unsigned s, unsigned b) { return "s=" + std::to_string(s) + " b=" + std::to_string(b); }

struct Row {
  std::string policy, kind;
  double deadline = 0;
  SimSummary seg, full;
  bool has_seg = true;
};

void print_row(FILE* f, const Row& r) {
  std::fprintf(f, "| %-24s | %-16s | %6.1f %% | %5.1f | %6.1f %% | %5.1f | %6.1f | %6.1f | %5.1f |\n", r.policy.c_str(),
               r.kind.c_str(), 100 * r.seg.hit_rate(), r.seg.mean_accuracy(), 100 * r.full.hit_rate(),
               r.full.mean_accuracy(), r.full.mean_rtt_ms(), r.full.rtt_quantile_ms(0.99), r.full.mean_bytes() / 1000);
}

// The comparison for one deadline: adaptive (real, simulated) and every static, on the played segment and on the
// whole trace. Returns the rows; prints the markdown table.
std::vector<Row> compare(const Options& o, double deadline, const LinkTrace& segment, const LinkTrace& full,
                         const OperatingPointTable& table, const SimCosts& costs, const std::vector<RealFrame>& real,
                         FILE* md, FILE* sim_csv) {
  SimOptions so;
  so.deadline_ms = deadline;
  so.frame_interval_ms = frame_interval(o, deadline);
  std::vector<Row> rows;
  auto run = [&](auto make_policy, std::vector<SimFrame>* frames) {
    auto p1 = make_policy();
    auto p2 = make_policy();
    Row r;
    r.deadline = deadline;
    r.seg = simulate(segment, table, costs, so, p1, frames);
    r.full = simulate(full, table, costs, so, p2);
    return r;
  };
  // The real-time run, summarised like a simulation (its "full trace" columns are its own segment).
  if (!real.empty()) {
    Row r;
    r.policy = "adaptive";
    r.kind = "real-time run";
    r.deadline = deadline;
    size_t last_s = 0, last_b = 0;
    for (const RealFrame& f : real) {
      if (f.deadline_ms != deadline) continue;
      ++r.seg.frames;
      r.seg.hits += f.r.deadline_met;
      r.seg.accuracy_sum += f.r.accuracy;
      r.seg.bytes_sum += double(f.r.bytes);
      r.seg.rtts.push_back(f.r.rtt_ms);
      if (r.seg.frames > 1 && (f.r.s != last_s || f.r.b != last_b)) ++r.seg.switches;
      last_s = f.r.s, last_b = f.r.b;
    }
    r.full = r.seg;
    rows.push_back(r);
  }
  std::vector<SimFrame> adaptive_frames;
  Row a = run([&] { return AdaptivePolicy(controller_options(o, deadline), bandwidth_options(o), o.prior); },
              &adaptive_frames);
  a.policy = "adaptive";
  a.kind = "simulated";
  rows.push_back(a);
  for (const SimFrame& f : adaptive_frames)
    std::fprintf(sim_csv, "%g,%.3f,%.3f,%u,%u,%.0f,%.3f,%.0f,%d,%.1f\n", deadline, f.start_ms / 1000, f.rtt_ms(), f.s,
                 f.b, f.bytes, f.predicted_ms, f.estimate_bytes_per_s, int(f.hit), f.accuracy);
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) {
      if (!table.at(s, b).enabled) continue;
      Row r = run([&] { return StaticPolicy{s, b}; }, nullptr);
      r.policy = "static " + config_name(s, b);
      r.kind = "simulated";
      rows.push_back(r);
    }

  // Best static that reaches 99 % on the whole trace.
  const Row* best = nullptr;
  for (const Row& r : rows)
    if (r.policy.rfind("static", 0) == 0 && r.full.hit_rate() >= 0.99 &&
        (!best || r.full.mean_accuracy() > best->full.mean_accuracy()))
      best = &r;
  for (FILE* f : {stdout, md}) {
    std::fprintf(f, "\n### Deadline %g ms\n\n", deadline);
    std::fprintf(f, "| policy                   | numbers          | seg hit  | acc   | full hit | acc   | RTT ms | p99 ms | kB    |\n");
    std::fprintf(f, "|--------------------------|------------------|----------|-------|----------|-------|--------|--------|-------|\n");
    for (const Row& r : rows) print_row(f, r);
    const Row& adaptive = rows[real.empty() ? 0 : 1];
    if (best) {
      std::fprintf(f, "\nBest static reaching 99 %% on the whole trace: %s, %.1f %% hits, accuracy %.2f. Adaptive "
                      "(simulated, whole trace): %.1f %% hits, accuracy %.2f (%+.2f).\n",
                   best->policy.c_str(), 100 * best->full.hit_rate(), best->full.mean_accuracy(),
                   100 * adaptive.full.hit_rate(), adaptive.full.mean_accuracy(),
                   adaptive.full.mean_accuracy() - best->full.mean_accuracy());
    } else {
      std::fprintf(f, "\nNo static configuration reaches 99 %% on the whole trace. Adaptive (simulated): %.1f %% hits, "
                      "accuracy %.2f.\n", 100 * adaptive.full.hit_rate(), adaptive.full.mean_accuracy());
    }
  }
  return rows;
}

// ------------------------------ tuning sweep (simulation only)

void sweep(const Options& o, const LinkTrace& trace, const OperatingPointTable& table, const SimCosts& costs) {
  std::printf("\nSweep on %s (%.0f s), simulation only. Per deadline: hit %% / mean accuracy; 'gain' is the smallest "
              "accuracy gain over the best static that reaches 99 %% (NaN-free: -99 when a deadline misses 99 %%).\n",
              o.trace.c_str(), trace.duration_s());
  std::vector<double> best_static;
  for (double d : o.deadlines) {
    SimOptions so{d, frame_interval(o, d), 0};
    double best = -1;
    for (unsigned s = 1; s <= kMaxMembers; ++s)
      for (unsigned b = 1; b <= kMaxBits; ++b) {
        if (!table.at(s, b).enabled) continue;
        StaticPolicy p{s, b};
        const SimSummary r = simulate(trace, table, costs, so, p);
        if (r.hit_rate() >= 0.99) best = std::max(best, r.mean_accuracy());
      }
    best_static.push_back(best);
    std::printf("  deadline %g: best static at >= 99 %%: %.2f\n", d, best);
  }
  struct SweepRow {
    double margin, quantile, headroom, tau;
    int follow;  // 0: quantile and EWMA only, 1: + median of the last three, 2: + the latest sample
    double deviation, og, od, gain;
    std::vector<std::pair<double, double>> per;
  };
  std::vector<SweepRow> results;
  for (double margin : {0.0, 0.02, 0.03, 0.05, 0.1})
    for (double quantile : {0.1, 0.2, 0.3, 0.5})
      for (double headroom : {0.0, 0.05, 0.1})
        for (double tau : {1000.0, 2000.0})
          for (int follow : {0, 1, 2})
            for (double deviation : {0.0, 0.5, 1.0, 2.0})
              for (auto [og, od] : {std::pair{0.0, 0.5}, {0.5, 0.5}, {1.0, 0.5}, {2.0, 0.5}, {1.0, 0.8}}) {
              Options t = o;
              t.overshoot_gain = og, t.overshoot_decay = od;
              t.margin = margin, t.quantile = quantile, t.headroom = headroom, t.tau_ms = tau;
              t.follow_recent = follow >= 1, t.follow_latest = follow == 2, t.deviation_weight = deviation;
              SweepRow r{margin, quantile, headroom, tau, follow, deviation, og, od, 1e9, {}};
              for (size_t i = 0; i < o.deadlines.size(); ++i) {
                const double d = o.deadlines[i];
                SimOptions so{d, frame_interval(o, d), 0};
                AdaptivePolicy p(controller_options(t, d), bandwidth_options(t), t.prior);
                const SimSummary s = simulate(trace, table, costs, so, p);
                r.per.emplace_back(s.hit_rate(), s.mean_accuracy());
                r.gain = std::min(r.gain, s.hit_rate() >= 0.99 ? s.mean_accuracy() - best_static[i] : -99.0);
              }
              results.push_back(r);
            }
  std::sort(results.begin(), results.end(), [](const SweepRow& a, const SweepRow& b) { return a.gain > b.gain; });
  if (FILE* f = std::fopen((o.out + "/sweep.csv").c_str(), "w")) {
    std::fprintf(f, "margin,quantile,headroom,tau_ms,follow,deviation,overshoot_gain,overshoot_decay,min_gain");
    for (double d : o.deadlines) std::fprintf(f, ",hit_%g,accuracy_%g", d, d);
    std::fprintf(f, "\n");
    for (const SweepRow& r : results) {
      std::fprintf(f, "%g,%g,%g,%g,%d,%g,%g,%g,%g", r.margin, r.quantile, r.headroom, r.tau, r.follow, r.deviation,
                   r.og, r.od, r.gain);
      for (auto [h, a] : r.per) std::fprintf(f, ",%g,%g", h, a);
      std::fprintf(f, "\n");
    }
    std::fclose(f);
  }
  std::printf("\n  margin quantile headroom  tau  follow  dev  overshoot   gain   per deadline (hit %%, accuracy)\n");
  for (size_t i = 0; i < std::min<size_t>(20, results.size()); ++i) {
    const SweepRow& r = results[i];
    std::printf("  %5.2f  %7.2f  %7.2f  %5.0f  %5s  %4.1f  %3.1f/%3.1f  %+6.2f ", r.margin, r.quantile, r.headroom,
                r.tau, r.follow == 2 ? "last" : r.follow ? "med3" : "no", r.deviation, r.og, r.od, r.gain);
    for (auto [h, a] : r.per) std::printf("  (%.1f, %.2f)", 100 * h, a);
    std::printf("\n");
  }
}

// ------------------------------ steps of main()

// The columns of frames.csv, written by write_frames_csv and read back by name by read_residuals.
constexpr const char* kFramesCsvHeader =
    "deadline_ms,frame,start_s,send_s,link_Bps,estimate_Bps,s,b,bytes,encode_ms,server_ms,rtt_ms,predicted_ms,"
    "model_rtt_ms,deadline_met,accuracy,status,codec";

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> f;
  for (size_t a = 0, b; a <= line.size(); a = b + 1) {
    b = line.find(',', a);
    if (b == std::string::npos) b = line.size();
    f.push_back(line.substr(a, b - a));
  }
  return f;
}

// The codec-1 tables published beside a weights file: W.safetensors -> W.entropy.safetensors.
std::string entropy_tables_beside(const std::string& weights) {
  const std::string ext = ".safetensors";
  const bool has_ext =
      weights.size() > ext.size() && weights.compare(weights.size() - ext.size(), ext.size(), ext) == 0;
  return (has_ext ? weights.substr(0, weights.size() - ext.size()) : weights) + ".entropy.safetensors";
}

// Reads the options into o. Returns an exit status when the program should stop here (--help, a usage error).
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

// What every run plays: the accuracy table and the trace (as read, time-scaled, and the segment played in real
// time).
struct Scenario {
  AccuracyTable accuracy;
  LinkTrace full_raw, full, segment;
};

// Loads the accuracy table and the trace and says what will be played; nullopt after printing why not.
std::optional<Scenario> load_scenario(const Options& o) {
  auto accuracy = load_accuracy_table(o.accuracy);
  if (!accuracy) {
    std::fprintf(stderr, "accuracy table %s: %s\n", o.accuracy.c_str(), accuracy.error().what());
    return std::nullopt;
  }
  size_t bad_line = 0;
  auto full_raw = LinkTrace::load(o.trace, &bad_line);
  if (!full_raw) {
    std::fprintf(stderr, "trace %s, line %zu: %s\n", o.trace.c_str(), bad_line, full_raw.error().what());
    return std::nullopt;
  }
  auto full = full_raw->time_scaled(o.time_scale);
  if (!full) {
    std::fprintf(stderr, "time scale: %s\n", full.error().what());
    return std::nullopt;
  }
  const LinkTrace segment = full->window(o.start_s / o.time_scale, o.duration_s);
  Scenario sc{std::move(*accuracy), std::move(*full_raw), std::move(*full), segment};
  std::printf("slimcodec adaptive demo\n");
  std::printf("  accuracy: %s (%s; %zu configurations)\n", o.accuracy.c_str(), sc.accuracy.metric.c_str(),
              sc.accuracy.configurations.size());
  std::printf("  trace: %s, %.0f s, mean %.1f kB/s; playing %.0f s from %.0f s%s\n", o.trace.c_str(),
              sc.full_raw.duration_s(), sc.full_raw.mean_rate() / 1e3, sc.segment.duration_s(), o.start_s,
              o.time_scale != 1 ? (" at " + std::to_string(o.time_scale) + "x speed").c_str() : "");
  return sc;
}

// The paper encoder with --weights, or with random weights when those are not usable (latency is what matters).
Result<PaperEncoder> create_encoder(const Options& o) {
  auto enc = PaperEncoder::create(layers::paper::kInput.h, layers::paper::kInput.w);
  if (!enc) return enc.error();
  auto file = weights::SafeTensorsFile::open(o.weights);
  // A whole split-model file (training/'s) keeps the encoder under "encoder."; an encoder-only file has no prefix.
  if (file && enc->load(*file, file->count_with_prefix("encoder.") > 0 ? "encoder" : "")) {
    std::printf("  encoder weights: %s\n", o.weights.c_str());
  } else {
    enc->init_random(1);
    std::printf("  encoder weights: %s not usable, random weights (latency is what matters here)\n", o.weights.c_str());
  }
  return enc;
}

// --codec 1: the entropy tables (shared with the in-process decode service); null for codec 0. False after printing
// why they cannot be used.
using SharedTables = std::shared_ptr<const entropy::TableSet>;
bool load_tables(const Options& o, SharedTables& out) {
  if (o.codec != 1) {
    std::printf("  codec 0: bit-packed frames\n");
    return true;
  }
  std::string why;
  auto file = weights::SafeTensorsFile::open(o.entropy_tables, &why);
  if (!file) return std::fprintf(stderr, "entropy tables %s: %s\n", o.entropy_tables.c_str(), why.c_str()), false;
  auto tables = weights::load_entropy_tables(*file);
  if (!tables)
    return std::fprintf(stderr, "entropy tables %s: %s\n", o.entropy_tables.c_str(), tables.error().what()), false;
  out = std::make_shared<const entropy::TableSet>(std::move(*tables));
  std::printf("  codec 1: entropy-coded frames, tables %s (id %u, hash 0x%08X, b", o.entropy_tables.c_str(),
              unsigned(out->id()), unsigned(out->hash()));
  for (unsigned b = 1; b <= kMaxBits; ++b)
    if (out->has(b)) std::printf(" %u", b);
  std::printf("; other b and frames that code no smaller go as codec 0)\n");
  return true;
}

// Codec 1: the expected frame bytes of every enabled (s, b) start from the mean coded size of the demo's own images
// (as the encode times start from a calibration), not from the bit-packed size; the device loop then follows the
// sizes it sends. Runs the encoder without the emulated slowdown (sizes do not depend on it).
void calibrate_coded_bytes(EmulatedDevice& device, FrameEncoder<EmulatedDevice>& probe, double slowdown,
                           const std::vector<std::vector<float>>& inputs, OperatingPointTable& base) {
  device.set_slowdown(1);
  std::printf("\n  codec-1 frame bytes, mean over the %zu images (bit-packed in brackets):\n", inputs.size());
  for (unsigned s = 1; s <= kMaxMembers; ++s) {
    std::printf("   ");
    for (unsigned b = 1; b <= kMaxBits; ++b) {
      if (!base.at(s, b).enabled) continue;
      const double packed = base.at(s, b).bytes;
      for (const auto& x : inputs)
        if (auto f = probe.encode(x.data(), s, b, 0, 0)) base.observe_bytes(s, b, double(f->size));
      std::printf("  s=%u b=%u %.0f (%.0f)", s, b, base.at(s, b).bytes, packed);
    }
    std::printf("\n");
  }
  device.set_slowdown(slowdown);
}

// Emulated device: measures the real CPU time of s=1, sets the slowdown (the paper's Raspberry Pi 4 unless
// --device-slowdown), then calibrates encode + quantize + frame for every s into `base`. Returns the slowdown.
Result<double> emulate_device(const Options& o, EmulatedDevice& device, FrameEncoder<EmulatedDevice>& probe,
                              const std::vector<std::vector<float>>& inputs, OperatingPointTable& base,
                              std::array<double, kMaxMembers>& calibrated) {
  std::vector<double> cpu;
  for (int i = 0; i < 8; ++i) {
    if (auto f = probe.encode(inputs[0].data(), 1, 4 /* b */, 0, 0); !f) {
      std::fprintf(stderr, "encode: %s\n", f.error().what());
      return f.error();
    }
    if (i > 0) cpu.push_back(device.last_cpu_ms());
  }
  const double cpu_s1 = median(cpu);
  const double slowdown = o.slowdown > 0 ? o.slowdown : std::max(1.0, kPaperMemberMs / cpu_s1);
  device.set_slowdown(slowdown);
  std::printf("\n  EMULATED DEVICE: the encoder runs here (s=1: %.2f ms of CPU) and then sleeps to cost %.1fx that%s:\n",
              cpu_s1, slowdown, o.slowdown > 0 ? "" : " (s=1 = the paper's Raspberry Pi 4, 66 ms)");
  auto measured = calibrate_encoder(probe, inputs[0].data(), kMaxMembers, base, CalibrationOptions{1, 7, 4});
  if (!measured) {
    std::fprintf(stderr, "calibration: %s\n", measured.error().what());
    return measured.error();
  }
  calibrated = *measured;
  std::printf("  calibrated encode + quantize + frame, median of 7:");
  for (unsigned s = 1; s <= kMaxMembers; ++s) std::printf("  s=%u %.1f ms", s, calibrated[s - 1]);
  return slowdown;
}

void describe_server(const Options& o) {
  std::printf("\n  EMULATED SERVER: %s\n",
              !o.service_host.empty() ? "no (an external decode service)"
              : o.server_ms > 0 ? ("decode padded to at least " + std::to_string(int(o.server_ms)) + " ms (" + o.backend + " backend inside)").c_str()
                                : ("no padding (" + o.backend + " backend)").c_str());
}

bool create_out_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
  return !ec;
}

// --encoder-ms: the simulation uses these encode times instead of the calibrated ones.
void use_given_encoder_ms(const Options& o, std::array<double, kMaxMembers>& calibrated, OperatingPointTable& base) {
  if (o.encoder_ms.empty()) return;
  std::printf("  simulation uses the given encode times:");
  for (unsigned s = 1; s <= kMaxMembers; ++s) {
    calibrated[s - 1] = o.encoder_ms[s - 1];
    base.calibrate_encoder(s, o.encoder_ms[s - 1]);
    std::printf(" s=%u %.1f ms", s, o.encoder_ms[s - 1]);
  }
  std::printf("\n");
}

// --residuals: the latency-model residuals (rtt_ms - model_rtt_ms) of an earlier run's frames.csv, its columns
// found by name in the header line. Rows without both numbers are skipped.
Result<std::vector<double>> read_residuals(const std::string& path) {
  auto bytes = io::read_file(path, size_t(64) << 20);
  if (!bytes) return bytes.error();
  const std::string text(bytes->begin(), bytes->end());
  size_t pos = text.find('\n');
  const std::vector<std::string> header = split_csv_line(text.substr(0, pos));
  const auto column = [&](const char* name) { return size_t(std::find(header.begin(), header.end(), name) - header.begin()); };
  const size_t rtt_col = column("rtt_ms"), model_col = column("model_rtt_ms");
  if (rtt_col == header.size() || model_col == header.size())
    return Error{Errc::invalid_argument, "no rtt_ms and model_rtt_ms columns in the header line"};
  std::vector<double> residuals;
  while (pos != std::string::npos && pos + 1 < text.size()) {
    const size_t end = text.find('\n', pos + 1);
    const std::vector<std::string> f = split_csv_line(text.substr(pos + 1, end - pos - 1));
    double rtt = 0, model = 0;
    if (f.size() > std::max(rtt_col, model_col) && parse_double(f[rtt_col].c_str(), rtt) &&
        parse_double(f[model_col].c_str(), model))
      residuals.push_back(rtt - model);
    pos = end;
  }
  return residuals;
}

// --sweep: the tuning grid in simulation, with the server time given by --server-ms.
void run_sweep(const Options& o, const LinkTrace& full, OperatingPointTable& base, const std::vector<double>& replayed) {
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) base.observe_server_ms(s, b, o.server_ms);
  SimCosts costs = SimCosts::from_table(base);
  costs.residual_ms = replayed;
  sweep(o, full, base, costs);
}

// ------------------------------ the real-time runs

// What the real-time runs measured: every frame, and every server time (warm-up frames included).
struct RealTimeResults {
  std::vector<RealFrame> frames;
  std::vector<double> server_samples;
};

// Restarts the played trace and tells when it started, on whichever link plays it.
struct TraceControl {
  emulation::TcLink* tc = nullptr;
  LinkShaper* shaper = nullptr;
  void restart() const { tc ? tc->restart_trace() : shaper->restart_trace(); }
  auto epoch() const { return tc ? tc->trace_epoch() : shaper->trace_epoch(); }
};

// The decode service in this process (the emulated server pads the backend's time), inside tc's network namespace
// when there is one, started. Null after printing why not.
std::unique_ptr<server::TcpService> start_decode_service(const Options& o, asio::io_context& io, emulation::TcLink* tc,
                                                         const SharedTables& tables) {
  server::register_builtin_backends();  // "identity" and "native", which the emulated server wraps
  server::BackendRegistry::global().add("emulated-server", make_padded_backend);
  server::ServiceOptions so;
  so.workers = 1;  // one device, one frame in flight
  so.backend = o.server_ms > 0 ? "emulated-server" : o.backend;
  so.backend_options = {{"inner", o.backend}, {"pad_ms", std::to_string(o.server_ms)}};
  if (o.backend == "native") {  // the reconstructor of the same model, or the fixture's for an encoder-only file
    auto file = weights::SafeTensorsFile::open(o.weights);
    so.backend_options["weights"] = file && file->count_with_prefix("reconstructor.") > 0
                                        ? o.weights
                                        : kSource + "/tests/data/reconstructor_weights.safetensors";
  }
  so.entropy_tables = tables;  // codec 1: the device's tables
  if (tc) so.bind_address = tc->service_address();
  Result<std::unique_ptr<server::TcpService>> s = Error{Errc::invalid_argument, "not created"};
  auto create = [&] { s = server::TcpService::create(io, so); };
  if (!tc) {
    create();
  } else if (auto entered = tc->in_namespace(create); !entered) {
    std::fprintf(stderr, "%s\n", entered.error().what());
    return nullptr;
  }
  if (!s) {
    std::fprintf(stderr, "decode service: %s\n", s.error().what());
    return nullptr;
  }
  (*s)->start();
  return std::move(*s);
}

// Two warm-up frames teach the table the server's time; every deadline run then starts from that table with a
// fresh controller and bandwidth estimator (as the simulator does).
bool warm_up(EmulatedDevice& device, TcpTransport& link, const std::vector<std::vector<float>>& inputs,
             const entropy::TableSet* tables, OperatingPointTable& base, std::vector<double>& server_samples) {
  OperatingPointTable warm = base;
  DeviceLoop<EmulatedDevice> loop(device, link, warm, DeviceLoopOptions{});
  loop.frames().set_entropy_tables(tables);
  for (int i = 0; i < 2; ++i) {
    auto r = loop.process(inputs[0].data());
    if (!r) {
      std::fprintf(stderr, "warm-up frame: %s\n", r.error().what());
      return false;
    }
    server_samples.push_back(r->server_ms);
  }
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) base.observe_server_ms(s, b, median(server_samples));
  std::printf("  warm-up: server decode %.1f ms\n", median(server_samples));
  return true;
}

// "codec 0", or "codec 1 on N of K frames" (the others went as codec 0: no table for their b, or not smaller).
std::string codec_summary(const Options& o, size_t coded, size_t frames) {
  if (o.codec != 1) return "codec 0 (bit-packed)";
  return "codec 1 (entropy-coded) on " + std::to_string(coded) + " of " + std::to_string(frames) + " frames";
}

// One deadline in real time: a fresh table, controller and estimator; the trace restarted; a frame every interval
// over the segment, each printed unless --quiet, then a summary line. Appends to `out`.
bool run_deadline(const Options& o, double deadline, const LinkTrace& segment, const TraceControl& trace,
                  EmulatedDevice& device, TcpTransport& link, const entropy::TableSet* tables,
                  const OperatingPointTable& base,
                  const std::vector<std::vector<float>>& inputs, const std::array<double, kMaxMembers>& calibrated,
                  RealTimeResults& out) {
  OperatingPointTable table = base;
  DeviceLoopOptions lo;
  lo.controller = controller_options(o, deadline);
  lo.bandwidth = bandwidth_options(o);
  lo.prior_bytes_per_s = o.prior;
  DeviceLoop<EmulatedDevice> loop(device, link, table, lo);
  loop.frames().set_entropy_tables(tables);  // null: codec 0
  std::printf("\n=== deadline %g ms: %.0f s of trace, one frame every %g ms ===\n", deadline, segment.duration_s(),
              frame_interval(o, deadline));
  trace.restart();
  loop.set_epoch(trace.epoch());
  double next = 0;
  size_t k = 0;
  while (next < 1000.0 * segment.duration_s()) {
    std::this_thread::sleep_until(trace.epoch() + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double, std::milli>(next)));
    auto r = loop.process(inputs[k % inputs.size()].data());
    if (!r) {
      std::fprintf(stderr, "frame %zu: %s\n", k, r.error().what());
      return false;
    }
    RealFrame f{deadline, *r, segment.rate_at(r->send_ms / 1000), 0};
    f.model_rtt = model_rtt_ms(segment, r->start_ms, calibrated[r->s - 1], double(r->bytes), median(out.server_samples));
    out.frames.push_back(f);
    out.server_samples.push_back(r->server_ms);
    if (!o.quiet)
      std::printf("[%3g] #%3zu t=%5.1fs link %5.1f kB/s est %5.1f -> s=%u b=%u %5.1f kB%s  enc %5.1f srv %5.1f  "
                  "RTT %6.1f (pred %5.1f, model %5.1f) %s\n",
                  deadline, k + 1, r->start_ms / 1000, f.link_rate / 1e3, r->estimate_bytes_per_s / 1e3, r->s, r->b,
                  double(r->bytes) / 1e3, o.codec == 1 ? (r->codec == wire::Codec::rans ? " c1" : " c0") : "",
                  r->encode_ms, r->server_ms, r->rtt_ms, r->predicted_ms, f.model_rtt, r->deadline_met ? "hit" : "MISS");
    next = std::max(r->start_ms + frame_interval(o, deadline), loop.now_ms());
    ++k;
  }
  size_t hits = 0, coded = 0;
  double acc = 0, bytes = 0;
  for (const RealFrame& f : out.frames)
    if (f.deadline_ms == deadline)
      hits += f.r.deadline_met, acc += f.r.accuracy, bytes += double(f.r.bytes),
      coded += f.r.codec == wire::Codec::rans;
  std::printf("--- deadline %g ms (real time): %zu frames, %.1f %% within the deadline, mean expected accuracy "
              "%.2f, mean %.1f kB/frame, %s\n", deadline, k, 100.0 * double(hits) / double(k), acc / double(k),
              bytes / double(k) / 1e3, codec_summary(o, coded, k).c_str());
  // A reply with an error status (e.g. entropy_table_mismatch from a --service without the tables) is a miss too;
  // say so, since it is not a link or timing problem.
  size_t failed = 0;
  const char* first = nullptr;
  for (const RealFrame& f : out.frames)
    if (f.deadline_ms == deadline && f.r.status != Errc::ok && f.r.status != Errc::timed_out)
      ++failed, first = first ? first : message(f.r.status);
  if (failed) std::printf("    %zu frames answered with an error status (first: %s)\n", failed, first);
  return true;
}

// The real-time runs: the decode service (here, or the one at --service), the link in front of it (the in-process
// shaper, or the kernel's tc in a network namespace), warm-up, then one run per deadline. Returns an exit status.
int run_real_time(const Options& o, const LinkTrace& segment, EmulatedDevice& device, const SharedTables& tables,
                  const std::vector<std::vector<float>>& inputs, const std::array<double, kMaxMembers>& calibrated,
                  OperatingPointTable& base, RealTimeResults& out) {
  asio::io_context service_io, shaper_io;
  std::unique_ptr<server::TcpService> service;
  std::string upstream_host = o.service_host;
  uint16_t upstream_port = o.service_port;
  std::unique_ptr<emulation::TcLink> tc;  // declared first: the namespace outlives the service's sockets
  if (o.tc_link) {
    auto created = emulation::TcLink::create(segment);
    if (!created) return std::fprintf(stderr, "%s\n", created.error().what()), kLinkUnavailable;
    tc = std::move(*created);
  }
  if (o.service_host.empty()) {
    service = start_decode_service(o, service_io, tc.get(), tables);
    if (!service) return 1;
    upstream_host = tc ? tc->service_address() : "127.0.0.1";
    upstream_port = service->port();
  }
  // The link: the in-process shaper in front of the service, or nothing here (the kernel shapes the veth).
  std::unique_ptr<LinkShaper> shaper;
  if (!tc) {
    ShaperOptions sh;
    sh.upstream_host = upstream_host;
    sh.upstream_port = upstream_port;
    auto created = LinkShaper::create(shaper_io, segment, sh);
    if (!created) return std::fprintf(stderr, "link shaper: %s\n", created.error().what()), 1;
    shaper = std::move(*created);
    shaper->start();
  }
  const TraceControl trace{tc.get(), shaper.get()};
  std::thread service_thread([&] { service_io.run(); });
  std::thread shaper_thread([&] { shaper_io.run(); });
  auto stop_threads = [&] {
    if (shaper) shaper->shutdown();
    shaper_io.stop();
    if (service) service->shutdown();
    shaper_thread.join();
    service_thread.join();
  };
  TcpTransport link;
  const std::string link_host = tc ? upstream_host : "127.0.0.1";
  const uint16_t link_port = tc ? upstream_port : shaper->port();
  if (auto c = link.connect(link_host, link_port); !c) {
    stop_threads();
    return std::fprintf(stderr, "connect: %s\n", c.error().what()), 1;
  }
  if (tc)
    std::printf("  decode service at %s:%u in a network namespace, behind tc tbf on %s (kernel-shaped link)\n",
                upstream_host.c_str(), upstream_port, tc->interface().c_str());
  else
    std::printf("  decode service on port %u behind the link shaper on port %u\n", upstream_port, shaper->port());

  bool ok = warm_up(device, link, inputs, tables.get(), base, out.server_samples);
  for (size_t i = 0; ok && i < o.deadlines.size(); ++i)
    ok = run_deadline(o, o.deadlines[i], segment, trace, device, link, tables.get(), base, inputs, calibrated, out);
  if (!ok) {
    stop_threads();
    return 1;
  }
  link.close();
  if (tc) std::printf("tc link: %zu rate changes applied, %zu failed\n", tc->rate_changes(), tc->failed_changes());
  stop_threads();
  return 0;
}

// ------------------------------ simulation and outputs

// Simulation costs: the calibrated encoder medians, the median server time measured (or the emulated one), and
// the real run's residuals (real RTT minus the latency model) so the simulator carries the unmodelled time too;
// with no real run, the --residuals replayed. Also sets the table's server time.
SimCosts simulation_costs(const Options& o, const std::array<double, kMaxMembers>& calibrated,
                          const RealTimeResults& real, const std::vector<double>& replayed, OperatingPointTable& base) {
  SimCosts costs;
  for (unsigned s = 1; s <= kMaxMembers; ++s) costs.encoder_ms[s - 1] = calibrated[s - 1];
  costs.server_ms = real.server_samples.empty() ? o.server_ms : median(real.server_samples);
  for (const RealFrame& f : real.frames)
    if (std::isfinite(f.model_rtt)) costs.residual_ms.push_back(f.r.rtt_ms - f.model_rtt);
  if (real.frames.empty()) costs.residual_ms = replayed;
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) base.observe_server_ms(s, b, costs.server_ms);
  return costs;
}

void write_frames_csv(FILE* f, const std::vector<RealFrame>& real) {
  std::fprintf(f, "%s\n", kFramesCsvHeader);
  for (const RealFrame& x : real)
    std::fprintf(f, "%g,%u,%.4f,%.4f,%.0f,%.0f,%u,%u,%zu,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%.2f,%s,%d\n", x.deadline_ms,
                 x.r.frame_id, x.r.start_ms / 1000, x.r.send_ms / 1000, x.link_rate, x.r.estimate_bytes_per_s, x.r.s,
                 x.r.b, x.r.bytes, x.r.encode_ms, x.r.server_ms, x.r.rtt_ms, x.r.predicted_ms, x.model_rtt,
                 int(x.r.deadline_met), x.r.accuracy, message(x.r.status), int(x.r.codec));
}

void write_trace_csv(FILE* f, const LinkTrace& segment) {
  std::fprintf(f, "time_s,bytes_per_s\n");
  for (const TracePoint& p : segment.points()) std::fprintf(f, "%.4f,%.0f\n", p.time_s, p.bytes_per_s);
}

// summary.md's opening: what was played, the emulated device and server, the controller's settings, and how well the
// latency model matched the real frames (also on stdout).
void write_summary_header(FILE* md, const Options& o, const Scenario& sc, double slowdown, const SimCosts& costs,
                          const std::vector<RealFrame>& real) {
  std::fprintf(md, "# Adaptive demo summary\n\n");
  std::fprintf(md, "Trace %s (%.0f s%s), segment played in real time: %.0f s from %.0f s. Accuracy: %s, %s.\n",
               o.trace.c_str(), sc.full.duration_s(), o.time_scale != 1 ? ", time-scaled" : "", sc.segment.duration_s(),
               o.start_s, o.accuracy.c_str(), sc.accuracy.metric.c_str());
  std::fprintf(md, "Emulated device: slowdown %.1fx, encode s=1..4: %.1f / %.1f / %.1f / %.1f ms. Server decode "
                   "(median measured): %.1f ms. Controller: margin %.2f, quantile %.2f, headroom %.2f, tau %.0f ms, "
                   "follow %s, deviation weight %.2f, overshoot gain %.2f decay %.2f.\n",
               slowdown, costs.encoder_ms[0], costs.encoder_ms[1], costs.encoder_ms[2], costs.encoder_ms[3],
               costs.server_ms, o.margin, o.quantile, o.headroom, o.tau_ms,
               o.follow_latest ? "median of 3 and latest" : o.follow_recent ? "median of 3" : "off", o.deviation_weight,
               o.overshoot_gain, o.overshoot_decay);
  if (o.codec == 1)
    std::fprintf(md, "Frames: codec 1 (entropy-coded, tables %s; codec 0 where a b has no table or codes no smaller); "
                     "bytes per (s, b) start from the mean coded size of the demo's images.\n", o.entropy_tables.c_str());
  else
    std::fprintf(md, "Frames: codec 0 (bit-packed).\n");
  if (!real.empty()) {
    std::vector<double> abs_err;
    for (const RealFrame& f : real)
      if (std::isfinite(f.model_rtt)) abs_err.push_back(std::fabs(f.r.rtt_ms - f.model_rtt));
    std::fprintf(md, "Latency model check on the %zu real frames: real RTT minus model, median %.1f ms, median |error| "
                     "%.1f ms (these residuals are replayed in the simulation).\n",
                 real.size(), median(costs.residual_ms), median(abs_err));
    std::printf("\nlatency model vs the real frames: median residual %.1f ms, median |error| %.1f ms\n",
                median(costs.residual_ms), median(abs_err));
  }
  std::fprintf(md, "\nColumns: 'seg' = the segment played in real time, 'full' = the whole trace; 'real-time run' rows "
                   "are measured, 'simulated' rows come from the trace-driven simulator (same latency model, measured "
                   "costs). Accuracy is the table's expected accuracy of the configurations chosen, averaged over "
                   "frames.\n");
}

// The CSVs and summary.md under --out, with the comparison per deadline (also on stdout). False after printing why
// a file could not be opened.
bool write_outputs(const Options& o, const Scenario& sc, double slowdown, const OperatingPointTable& base,
                   const SimCosts& costs, const std::vector<RealFrame>& real) {
  FILE* frames_csv = std::fopen((o.out + "/frames.csv").c_str(), "w");
  FILE* sim_csv = std::fopen((o.out + "/simulation.csv").c_str(), "w");
  FILE* md = std::fopen((o.out + "/summary.md").c_str(), "w");
  FILE* trace_csv = std::fopen((o.out + "/trace.csv").c_str(), "w");
  if (!frames_csv || !sim_csv || !md || !trace_csv) {
    std::fprintf(stderr, "cannot write to %s\n", o.out.c_str());
    return false;
  }
  write_frames_csv(frames_csv, real);
  std::fprintf(sim_csv, "deadline_ms,start_s,rtt_ms,s,b,bytes,predicted_ms,estimate_Bps,deadline_met,accuracy\n");
  write_trace_csv(trace_csv, sc.segment);
  std::fclose(trace_csv);
  write_summary_header(md, o, sc, slowdown, costs, real);
  std::printf("\n== Comparison (seg = the %.0f s segment, full = the whole trace; 'simulated' rows are the trace-driven "
              "simulator, 'real-time run' rows are measured) ==\n", sc.segment.duration_s());
  for (double deadline : o.deadlines) compare(o, deadline, sc.segment, sc.full, base, costs, real, md, sim_csv);
  std::fclose(frames_csv);
  std::fclose(sim_csv);
  std::fclose(md);
  return true;
}

// adaptive.png from frames.csv and trace.csv by scripts/plot_adaptive.py (optional: needs python3-matplotlib).
void plot(const Options& o) {
  const std::string cmd = "/usr/bin/python3 '" + kSource + "/scripts/plot_adaptive.py' --frames '" + o.out +
                          "/frames.csv' --trace '" + o.out + "/trace.csv' --out '" + o.out + "/adaptive.png'";
  if (std::system(cmd.c_str()) != 0)
    std::printf("plot: scripts/plot_adaptive.py failed (needs Debian python3-matplotlib); the CSVs are written\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped to a file, too
  Options o;
  if (auto stop = parse_options(argc, argv, o)) return *stop;
  const auto wall_start = Clock::now();

  const std::optional<Scenario> sc = load_scenario(o);
  if (!sc) return 1;
  auto enc = create_encoder(o);
  if (!enc) return std::fprintf(stderr, "encoder: %s\n", enc.error().what()), 1;
  const std::vector<std::vector<float>> inputs = load_inputs(o);

  SharedTables tables;
  if (!load_tables(o, tables)) return 1;

  EmulatedDevice device(*enc, 1);
  FrameEncoder<EmulatedDevice> probe(device);
  probe.set_entropy_tables(tables.get());  // codec 1: the calibration times the entropy coder too
  OperatingPointTable base(size_t(layers::paper::kLatent.size()));
  apply_accuracy_table(sc->accuracy, base);
  std::array<double, kMaxMembers> calibrated{};
  const auto slowdown = emulate_device(o, device, probe, inputs, base, calibrated);
  if (!slowdown) return 1;
  if (tables) calibrate_coded_bytes(device, probe, *slowdown, inputs, base);
  describe_server(o);
  if (!create_out_dir(o.out)) return 1;
  use_given_encoder_ms(o, calibrated, base);

  std::vector<double> replayed;  // residuals from an earlier run
  if (!o.residuals.empty()) {
    auto r = read_residuals(o.residuals);
    if (!r) return std::fprintf(stderr, "%s: %s\n", o.residuals.c_str(), r.error().what()), 1;
    replayed = std::move(*r);
    std::printf("  replaying %zu latency-model residuals from %s (median %.1f ms)\n", replayed.size(),
                o.residuals.c_str(), median(replayed));
  }
  if (o.sweep) {
    run_sweep(o, sc->full, base, replayed);
    return 0;
  }

  RealTimeResults real;
  if (!o.sim_only) {
    if (int status = run_real_time(o, sc->segment, device, tables, inputs, calibrated, base, real); status != 0)
      return status;
  }

  const SimCosts costs = simulation_costs(o, calibrated, real, replayed, base);
  if (!write_outputs(o, *sc, *slowdown, base, costs, real.frames)) return 1;
  std::fflush(stdout);
  if (o.plot && !real.frames.empty()) plot(o);
  std::printf("\nwrote %s/{frames.csv,simulation.csv,trace.csv,summary.md%s} in %.0f s of wall time\n", o.out.c_str(),
              o.plot && !real.frames.empty() ? ",adaptive.png" : "",
              std::chrono::duration<double>(Clock::now() - wall_start).count());
  return 0;
}
