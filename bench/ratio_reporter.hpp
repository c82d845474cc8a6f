// The benchmark programs' reporter: Google Benchmark's console output as usual, plus what each benchmark measured,
// kept for the ratios a program prints at the end against a baseline of the same run (absolute times mean little
// on a shared machine; ratios from one run do).
#pragma once

#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace slimcodec::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type != Run::RT_Iteration && !median) continue;
      const std::string name = run.run_name.str();  // e.g. BM_stream_parser/244; a median's without "_median"
      if (!median && medians_.count(name)) continue;  // a repeated benchmark: its median stands
      cpu_[name] = run.GetAdjustedCPUTime();
      if (median) medians_.insert(name);
      for (const auto& [key, counter] : run.counters) counters_[key][run.benchmark_name()] = counter.value;
    }
  }

  // CPU time per iteration (the median when repeated) of the benchmark run `name` (as registered, with its
  // arguments: "BM_stream_parser/244"); CPU time, not wall time, leaves out the time the thread spends
  // descheduled. NaN when it did not run (filtered out, failed).
  double cpu_time(const std::string& name) const {
    const auto it = cpu_.find(name);
    return it == cpu_.end() ? NAN : it->second;
  }
  bool has(const std::string& name) const { return cpu_.count(name) != 0; }

  // Counter `key` of every run that reported it, by the run's full name (as printed, arguments included).
  std::map<std::string, double> counter(const std::string& key) const {
    const auto it = counters_.find(key);
    return it == counters_.end() ? std::map<std::string, double>{} : it->second;
  }

 private:
  std::map<std::string, double> cpu_;
  std::set<std::string> medians_;
  std::map<std::string, std::map<std::string, double>> counters_;
};

}  // namespace slimcodec::bench
