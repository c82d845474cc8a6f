#include "results.hpp"

#include <slimcodec/weights/safetensors.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace slimcodec::adaptive_demo {

namespace {

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

// The tuning grid (simulation only).
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

}  // namespace

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

void run_sweep(const Options& o, const LinkTrace& full, OperatingPointTable& base, const std::vector<double>& replayed) {
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) base.observe_server_ms(s, b, o.server_ms);
  SimCosts costs = SimCosts::from_table(base);
  costs.residual_ms = replayed;
  sweep(o, full, base, costs);
}

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

void plot(const Options& o) {
  const std::string cmd = "/usr/bin/python3 '" + kSource + "/scripts/plot_adaptive.py' --frames '" + o.out +
                          "/frames.csv' --trace '" + o.out + "/trace.csv' --out '" + o.out + "/adaptive.png'";
  if (std::system(cmd.c_str()) != 0)
    std::printf("plot: scripts/plot_adaptive.py failed (needs Debian python3-matplotlib); the CSVs are written\n");
}

}  // namespace slimcodec::adaptive_demo
