// The accuracy table: expected task accuracy per (s, b) from a small JSON file (format in docs/adaptive.md,
// "Accuracy table"), written by the training pipeline or, until it has run, docs/accuracy-paper.json. Read with the
// project's JSON reader (weights/json_reader.hpp), numbers in full JSON syntax since accuracies are fractional.
#pragma once

#include "slimcodec/device/controller.hpp"
#include "slimcodec/io/file.hpp"
#include "slimcodec/weights/json_reader.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace slimcodec::device {

inline constexpr size_t kMaxAccuracyFileBytes = size_t(1) << 20;

struct AccuracyEntry {
  unsigned s = 0, b = 0;
  double accuracy = 0;
};

// A whole-frame alternative as the file describes it: {"accuracy": ..., "bytes": ..., "device_ms": ...,
// "server_ms": ...}; only accuracy is required.
struct AccuracyAlternative {
  bool present = false;
  double accuracy = 0, bytes = 0, device_ms = 0, server_ms = 0;
};

struct AccuracyTable {
  std::string source, metric;
  std::vector<AccuracyEntry> configurations;
  AccuracyAlternative full_offload, local_only;

  const AccuracyEntry* find(unsigned s, unsigned b) const {
    for (const AccuracyEntry& e : configurations)
      if (e.s == s && e.b == b) return &e;
    return nullptr;
  }
};

namespace detail {

// Calls on_member(key) for each member of the object at the reader; on_member must consume the value.
template <class OnMember>
Result<void> read_object(weights::JsonReader& r, OnMember&& on_member) {
  if (auto ok = r.expect('{', "accuracy JSON: expected an object"); !ok) return ok;
  if (r.consume('}')) return {};
  for (;;) {
    auto key = r.read_string();
    if (!key) return Error{Errc::format_invalid, "accuracy JSON: expected a member name"};
    if (auto ok = r.expect(':', "accuracy JSON: expected ':'"); !ok) return ok;
    if (auto ok = on_member(*key); !ok) return ok;
    if (r.consume(',')) continue;
    if (r.consume('}')) return {};
    return Error{Errc::format_invalid, "accuracy JSON: expected ',' or '}'"};
  }
}

inline Result<void> read_accuracy_value(weights::JsonReader& r, double& out) {
  auto v = r.read_number();
  if (!v) return v.error();
  if (*v < 0) return Error{Errc::format_invalid, "accuracy JSON: negative accuracy, bytes or time"};
  out = *v;
  return {};
}

inline Result<AccuracyEntry> read_configuration(weights::JsonReader& r) {
  AccuracyEntry e;
  bool has_s = false, has_b = false, has_accuracy = false;
  auto ok = read_object(r, [&](const std::string& key) -> Result<void> {
    if (key == "s" || key == "b") {
      if ((key == "s" && has_s) || (key == "b" && has_b)) return Error{Errc::format_invalid, "accuracy JSON: repeated member"};
      auto v = r.read_int();
      if (!v) return Error{Errc::format_invalid, "accuracy JSON: s and b must be integers"};
      if (key == "s") {
        if (*v < 1 || *v > int64_t(kMaxMembers)) return Error{Errc::format_invalid, "accuracy JSON: s outside 1..4"};
        e.s = unsigned(*v), has_s = true;
      } else {
        if (*v < 1 || *v > int64_t(kMaxBits)) return Error{Errc::format_invalid, "accuracy JSON: b outside 1..8"};
        e.b = unsigned(*v), has_b = true;
      }
      return {};
    }
    if (key == "accuracy") {
      if (has_accuracy) return Error{Errc::format_invalid, "accuracy JSON: repeated member"};
      has_accuracy = true;
      return read_accuracy_value(r, e.accuracy);
    }
    return r.skip_value(2, weights::JsonReader::Scalars::any);  // other members (notes, measured bytes...) are allowed
  });
  if (!ok) return ok.error();
  if (!has_s || !has_b || !has_accuracy)
    return Error{Errc::format_invalid, "accuracy JSON: a configuration needs s, b and accuracy"};
  return e;
}

inline Result<void> read_alternative(weights::JsonReader& r, AccuracyAlternative& a) {
  if (r.peek() == 'n') return r.read_literal("null");  // explicitly absent
  bool has_accuracy = false;
  auto ok = read_object(r, [&](const std::string& key) -> Result<void> {
    if (key == "accuracy") {
      has_accuracy = true;
      return read_accuracy_value(r, a.accuracy);
    }
    if (key == "bytes") return read_accuracy_value(r, a.bytes);
    if (key == "device_ms") return read_accuracy_value(r, a.device_ms);
    if (key == "server_ms") return read_accuracy_value(r, a.server_ms);
    return r.skip_value(2, weights::JsonReader::Scalars::any);
  });
  if (!ok) return ok;
  if (!has_accuracy) return Error{Errc::format_invalid, "accuracy JSON: an alternative needs an accuracy"};
  a.present = true;
  return {};
}

}  // namespace detail

// Parses the accuracy JSON. Every error is format_invalid with a detail saying what was wrong.
inline Result<AccuracyTable> parse_accuracy_table(std::string_view text) {
  if (!weights::validate_utf8(text)) return Error{Errc::format_invalid, "accuracy JSON: not valid UTF-8"};
  weights::JsonReader r(text);
  AccuracyTable t;
  bool has_metric = false, has_configurations = false;
  auto ok = detail::read_object(r, [&](const std::string& key) -> Result<void> {
    if (key == "source" || key == "metric") {
      auto s = r.read_string();
      if (!s) return Error{Errc::format_invalid, "accuracy JSON: source and metric must be strings"};
      (key == "source" ? t.source : t.metric) = std::move(*s);
      has_metric |= key == "metric";
      return {};
    }
    if (key == "configurations") {
      if (has_configurations) return Error{Errc::format_invalid, "accuracy JSON: repeated member"};
      has_configurations = true;
      if (auto e = r.expect('[', "accuracy JSON: configurations must be an array"); !e) return e;
      if (r.consume(']')) return {};
      for (;;) {
        auto c = detail::read_configuration(r);
        if (!c) return c.error();
        if (t.find(c->s, c->b)) return Error{Errc::format_invalid, "accuracy JSON: a configuration is listed twice"};
        t.configurations.push_back(*c);
        if (r.consume(',')) continue;
        if (r.consume(']')) return {};
        return Error{Errc::format_invalid, "accuracy JSON: expected ',' or ']'"};
      }
    }
    if (key == "full_offload") return detail::read_alternative(r, t.full_offload);
    if (key == "local_only") return detail::read_alternative(r, t.local_only);
    return r.skip_value(1, weights::JsonReader::Scalars::any);
  });
  if (!ok) return ok.error();
  if (!r.at_end()) return Error{Errc::format_invalid, "accuracy JSON: text after the object"};
  if (!has_metric) return Error{Errc::format_invalid, "accuracy JSON: missing \"metric\""};
  if (t.configurations.empty()) return Error{Errc::format_invalid, "accuracy JSON: no configurations"};
  return t;
}

// io_error when the file cannot be read, format_invalid when its contents are wrong.
inline Result<AccuracyTable> load_accuracy_table(const std::string& path) {
  auto bytes = io::read_file(path, kMaxAccuracyFileBytes);
  if (!bytes) return bytes.error();
  return parse_accuracy_table(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
}

// Enables exactly the listed (s, b) with their accuracies; fills the controller's alternatives when given.
inline void apply_accuracy_table(const AccuracyTable& t, OperatingPointTable& table, Controller* controller = nullptr) {
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) table.at(s, b).enabled = false;
  for (const AccuracyEntry& e : t.configurations) table.set_accuracy(e.s, e.b, e.accuracy);
  if (controller == nullptr) return;
  auto alt = [](const AccuracyAlternative& a) { return Alternative{a.present, a.device_ms, a.bytes, a.server_ms, a.accuracy}; };
  controller->full_offload() = alt(t.full_offload);
  controller->local_only() = alt(t.local_only);
}

}  // namespace slimcodec::device
