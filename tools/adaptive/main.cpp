// slimcodec-adaptive-demo: the adaptive runtime end to end. Real images -> the slimmable encoder on an emulated
// Raspberry-Pi-class device -> frames over a Bluetooth-class link (a bandwidth trace played by the link shaper) ->
// the decode service -> replies, with the deadline controller choosing (s, b) per frame; then the same trace and
// deadlines replayed in the trace-driven simulator for the adaptive controller and all 16 static configurations.
// The parts: options (command line), inputs (images), emulated (device and server), real_time (the runs over the
// link), results (simulation, sweep and outputs).
#include "common.hpp"
#include "emulated.hpp"
#include "inputs.hpp"
#include "options.hpp"
#include "real_time.hpp"
#include "results.hpp"

#include <slimcodec/weights/entropy_tables.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace slimcodec;
using namespace slimcodec::adaptive_demo;

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

// --codec 1: the entropy tables (shared with the in-process decode service); null for codec 0. False after printing
// why they cannot be used.
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
