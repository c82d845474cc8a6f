// Link bandwidth traces: a piecewise-constant rate over time read from a small text/CSV format (docs/adaptive.md,
// "Trace format"), with the exact integrals that the link shaper and the trace-driven simulator both use.
#pragma once

#include <slimcodec/common/result.hpp>
#include <slimcodec/io/file.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slimcodec::emulation {

inline constexpr size_t kMaxTraceRows = 1'000'000;
inline constexpr size_t kMaxTraceFileBytes = size_t(64) << 20;
inline constexpr double kMaxTraceRate = 1e12;  // bytes/s: far above any link, far below double trouble
inline constexpr double kMaxTraceTime = 1e7;   // s: about 115 days

struct TracePoint {
  double time_s = 0;
  double bytes_per_s = 0;
};

// Row i's rate holds on [time_i, time_{i+1}); the trace covers [0, last time]; the last row's rate also holds
// after the end, so a transfer in flight at the end still completes (or never does, if that rate is 0).
class LinkTrace {
 public:
  // Validates the rows: first at time 0, times strictly increasing, every value finite, rates >= 0.
  static Result<LinkTrace> from_points(std::vector<TracePoint> points) {
    if (points.empty()) return Error{Errc::format_invalid, "trace: no data rows"};
    if (points.size() > kMaxTraceRows) return Error{Errc::format_invalid, "trace: more rows than the limit"};
    for (size_t i = 0; i < points.size(); ++i) {
      if (auto ok = check_row(points[i], i == 0 ? nullptr : &points[i - 1]); !ok) return ok.error();
    }
    LinkTrace t;
    t.points_ = std::move(points);
    t.cumulative_.resize(t.points_.size());
    for (size_t i = 1; i < t.points_.size(); ++i)
      t.cumulative_[i] = t.cumulative_[i - 1] + t.points_[i - 1].bytes_per_s * (t.points_[i].time_s - t.points_[i - 1].time_s);
    return t;
  }

  // A constant rate for duration_s seconds.
  static Result<LinkTrace> constant(double bytes_per_s, double duration_s) {
    if (!(duration_s > 0)) return Error{Errc::invalid_argument, "trace duration must be positive"};
    return from_points({{0, bytes_per_s}, {duration_s, bytes_per_s}});
  }

  // Parses the text format. On a format error, *error_line (when given) receives the 1-based line number.
  static Result<LinkTrace> parse(std::string_view text, size_t* error_line = nullptr) {
    std::vector<TracePoint> points;
    size_t line_no = 0;
    bool header_allowed = true;
    auto fail = [&](const char* detail) {
      if (error_line) *error_line = line_no;
      return Error{Errc::format_invalid, detail};
    };
    while (!text.empty()) {
      ++line_no;
      const size_t eol = text.find('\n');
      std::string_view line = text.substr(0, eol);
      text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
      if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
      line = trim(line);
      if (line.empty()) continue;
      if (header_allowed) {
        header_allowed = false;
        if (line == kHeader) continue;
      }
      std::string_view fields[2];
      size_t count = 0;
      for (;;) {
        const size_t comma = line.find(',');
        const std::string_view field = trim(line.substr(0, comma));
        if (count == 2) return fail("trace: a row has more than two fields");
        fields[count++] = field;
        if (comma == std::string_view::npos) break;
        line = line.substr(comma + 1);
      }
      if (count != 2) return fail("trace: a row needs two fields: time_s,bytes_per_s");
      TracePoint p;
      if (!parse_double(fields[0], p.time_s) || !parse_double(fields[1], p.bytes_per_s))
        return fail("trace: a field is not a decimal number");
      if (points.size() == kMaxTraceRows) return fail("trace: more rows than the limit");
      if (auto ok = check_row(p, points.empty() ? nullptr : &points.back()); !ok) return fail(ok.error().detail);
      points.push_back(p);
    }
    if (points.empty()) {
      if (error_line) *error_line = line_no;
      return Error{Errc::format_invalid, "trace: no data rows"};
    }
    return from_points(std::move(points));
  }

  static Result<LinkTrace> load(const std::string& path, size_t* error_line = nullptr) {
    auto bytes = io::read_file(path, kMaxTraceFileBytes);
    if (!bytes) return bytes.error();
    return parse(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), error_line);
  }

  const std::vector<TracePoint>& points() const { return points_; }
  double duration_s() const { return points_.back().time_s; }

  double rate_at(double t_s) const { return points_[segment(t_s)].bytes_per_s; }

  // Bytes the link carries from time 0 to t_s (0 for t_s <= 0).
  double bytes_until(double t_s) const {
    if (!(t_s > 0)) return 0;
    const size_t i = segment(t_s);
    return cumulative_[i] + points_[i].bytes_per_s * (t_s - points_[i].time_s);
  }
  double bytes_between(double t0_s, double t1_s) const { return t1_s > t0_s ? bytes_until(t1_s) - bytes_until(t0_s) : 0; }

  // The earliest time >= t0_s by which `bytes` more have crossed the link; +infinity if that never happens.
  double finish_time(double t0_s, double bytes) const {
    const double start = std::max(t0_s, 0.0);
    if (!(bytes > 0)) return start;
    const double target = bytes_until(start) + bytes;
    // First row whose cumulative count reaches the target: the target is reached in the segment before it.
    const auto it = std::lower_bound(cumulative_.begin(), cumulative_.end(), target);
    if (it == cumulative_.end()) {  // after the end: the last rate holds
      const TracePoint& last = points_.back();
      if (!(last.bytes_per_s > 0)) return std::numeric_limits<double>::infinity();
      return std::max(start, last.time_s + (target - cumulative_.back()) / last.bytes_per_s);
    }
    const size_t k = size_t(it - cumulative_.begin());
    if (k == 0) return start;
    const TracePoint& p = points_[k - 1];
    return std::max(start, p.time_s + (target - cumulative_[k - 1]) / p.bytes_per_s);
  }

  double mean_rate() const { return duration_s() > 0 ? cumulative_.back() / duration_s() : points_[0].bytes_per_s; }

  // The part [start_s, start_s + duration_s] re-based to time 0 (clipped to the trace; at least one row).
  LinkTrace window(double start_s, double duration_s) const {
    const double a = std::clamp(start_s, 0.0, this->duration_s());
    const double b = std::clamp(start_s + duration_s, a, this->duration_s());
    std::vector<TracePoint> out{{0, rate_at(a)}};
    for (const TracePoint& p : points_)
      if (p.time_s > a && p.time_s < b) out.push_back({p.time_s - a, p.bytes_per_s});
    if (b > a) out.push_back({b - a, rate_at(b)});
    return std::move(from_points(std::move(out)).value());  // rows of a valid trace, in order: cannot fail
  }

  // The same rates played `factor` times faster (times divided by factor): for short tests and demos.
  Result<LinkTrace> time_scaled(double factor) const {
    if (!(factor > 0) || !std::isfinite(factor)) return Error{Errc::invalid_argument, "time scale must be positive"};
    std::vector<TracePoint> out = points_;
    for (TracePoint& p : out) p.time_s /= factor;
    return from_points(std::move(out));
  }

 private:
  static constexpr std::string_view kHeader = "time_s,bytes_per_s";

  static Result<void> check_row(const TracePoint& p, const TracePoint* previous) {
    if (!std::isfinite(p.time_s) || !std::isfinite(p.bytes_per_s))
      return Error{Errc::format_invalid, "trace: time or rate is not finite"};
    if (p.time_s < 0 || p.bytes_per_s < 0) return Error{Errc::format_invalid, "trace: negative time or rate"};
    if (p.time_s > kMaxTraceTime || p.bytes_per_s > kMaxTraceRate)
      return Error{Errc::format_invalid, "trace: time or rate above the limit"};
    if (previous == nullptr && p.time_s != 0) return Error{Errc::format_invalid, "trace: the first row must be at time 0"};
    if (previous != nullptr && !(p.time_s > previous->time_s))
      return Error{Errc::format_invalid, "trace: times must increase strictly"};
    return {};
  }

  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  }

  // A plain decimal number (no "inf"/"nan" words, no hex, no leading '+'), locale-independent.
  static bool parse_double(std::string_view s, double& out) {
    if (s.empty()) return false;
    for (char c : s)
      if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+')) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out, std::chars_format::general);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  }

  // Index of the row whose rate holds at t_s (0 before the start, the last row after the end).
  size_t segment(double t_s) const {
    const auto it = std::upper_bound(points_.begin(), points_.end(), t_s,
                                     [](double t, const TracePoint& p) { return t < p.time_s; });
    return it == points_.begin() ? 0 : size_t(it - points_.begin()) - 1;
  }

  std::vector<TracePoint> points_;
  std::vector<double> cumulative_;  // bytes carried from 0 to points_[i].time_s
};

}  // namespace slimcodec::emulation
