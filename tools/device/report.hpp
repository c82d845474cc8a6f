// slimcodec-device's output: JSON text helpers and the end summary (frames, hits, mean bytes, p50/p99 round trip),
// kept in fixed memory however long the device runs (round trips in a log-spaced histogram, 1 % wide bins).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace slimcodec_device {

// A JSON string literal for `text` (quotes included).
inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", unsigned(c));
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Quantiles of round trips from 0.1 ms to ~12 days, within 0.5 % (bin centres), in 8 KiB of counters.
class RttHistogram {
 public:
  void add(double ms) {
    ++count_;
    ++bins_[bin(ms)];
  }
  size_t count() const { return count_; }
  // The q-quantile (0 < q <= 1) as the geometric centre of its bin; 0 without samples.
  double quantile(double q) const {
    if (count_ == 0) return 0;
    const double rank = std::ceil(q * double(count_));
    double seen = 0;
    for (size_t i = 0; i < kBins; ++i) {
      seen += double(bins_[i]);
      if (seen >= rank) return kMinMs * std::pow(kRatio, double(i) + 0.5);
    }
    return kMinMs * std::pow(kRatio, double(kBins));
  }

 private:
  static constexpr double kMinMs = 0.1, kRatio = 1.01;
  static constexpr size_t kBins = 2048;  // 0.1 ms * 1.01^2048 ~ 7e7 ms
  static size_t bin(double ms) {
    if (!(ms > kMinMs)) return 0;
    const double i = std::log(ms / kMinMs) / std::log(kRatio);
    return i >= double(kBins - 1) ? kBins - 1 : size_t(i);
  }
  std::array<uint32_t, kBins> bins_{};
  size_t count_ = 0;
};

struct Summary {
  size_t frames = 0;          // frames sent (one JSONL line each)
  size_t answered = 0;        // with an ok reply
  size_t hits = 0;            // answered within the deadline
  size_t timed_out = 0;       // no reply within the reply timeout
  size_t failed = 0;          // answered with an error status
  size_t dropped_source = 0;  // live frames nobody took (the device was busy)
  size_t dropped_link = 0;    // frames not sent or lost while the server was unreachable
  size_t reconnects = 0;
  double bytes_sum = 0;
  RttHistogram rtt;  // answered frames

  // One JSON line (the output's last) or one line of text (stderr): the same values in the same order.
  void print_json(std::FILE* out, double deadline_ms) const {
    print(out, deadline_ms,
          "{\"summary\": true, \"frames\": %zu, \"answered\": %zu, \"hits\": %zu, \"deadline_ms\": %g, "
          "\"timed_out\": %zu, \"failed\": %zu, \"dropped_source\": %zu, \"dropped_link\": %zu, "
          "\"reconnects\": %zu, \"mean_bytes\": %.1f, \"rtt_p50_ms\": %.1f, \"rtt_p99_ms\": %.1f}\n");
  }
  void print_text(std::FILE* out, double deadline_ms) const {
    print(out, deadline_ms,
          "slimcodec-device: %zu frames sent, %zu answered, %zu within %g ms, %zu timed out, %zu failed; dropped %zu "
          "at the source, %zu at the link (%zu reconnects); mean %.0f B; round trip p50 %.1f ms, p99 %.1f ms\n");
  }

 private:
  void print(std::FILE* out, double deadline_ms, const char* format) const {
    std::fprintf(out, format, frames, answered, hits, deadline_ms, timed_out, failed, dropped_source, dropped_link,
                 reconnects, frames ? bytes_sum / double(frames) : 0.0, rtt.quantile(0.5), rtt.quantile(0.99));
  }
};

}  // namespace slimcodec_device
