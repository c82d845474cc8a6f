// slimcodec-adaptive-demo's simulation and outputs: the trace-driven simulator for the adaptive controller and every
// static (s, b), the tuning sweep, and frames.csv, simulation.csv, trace.csv, summary.md and adaptive.png.
#pragma once

#include "common.hpp"
#include "options.hpp"

#include <slimcodec/device/operating_points.hpp>
#include <emulation/trace_simulation.hpp>

#include <array>
#include <string>
#include <vector>

namespace slimcodec::adaptive_demo {

// --residuals: the latency-model residuals (rtt_ms - model_rtt_ms) of an earlier run's frames.csv, its columns
// found by name in the header line. Rows without both numbers are skipped.
Result<std::vector<double>> read_residuals(const std::string& path);

// --sweep: the tuning grid in simulation, with the server time given by --server-ms.
void run_sweep(const Options& o, const LinkTrace& full, OperatingPointTable& base, const std::vector<double>& replayed);

// Simulation costs: the calibrated encoder medians, the median server time measured (or the emulated one), and
// the real run's residuals (real RTT minus the latency model) so the simulator carries the unmodelled time too;
// with no real run, the --residuals replayed. Also sets the table's server time.
SimCosts simulation_costs(const Options& o, const std::array<double, kMaxMembers>& calibrated,
                          const RealTimeResults& real, const std::vector<double>& replayed, OperatingPointTable& base);

// The CSVs and summary.md under --out, with the comparison per deadline (also on stdout). False after printing why
// a file could not be opened.
bool write_outputs(const Options& o, const Scenario& sc, double slowdown, const OperatingPointTable& base,
                   const SimCosts& costs, const std::vector<RealFrame>& real);

// adaptive.png from frames.csv and trace.csv by scripts/plot_adaptive.py (optional: needs python3-matplotlib).
void plot(const Options& o);

}  // namespace slimcodec::adaptive_demo
