// Run-time registry of decoder backends by name: an object the program owns (there is no process-wide one). Adding
// a backend is one class and one call, made before the registry creates backends or services use it:
// registry.add("mine", make_my_backend). The built-in ones ("identity", "native") are added by
// register_builtin_backends (builtin.hpp); a service given no registry uses one of its own holding just those.
#pragma once

#include "slimcodec/server/backend.hpp"

#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace slimcodec::server {

// Free-form settings for a backend ("weights" -> path, "module" -> path, ...).
using BackendOptions = std::map<std::string, std::string>;
using BackendFactory = std::function<Result<std::unique_ptr<DecoderBackend>>(const BackendOptions&)>;

// The unsigned decimal option `key`, if present: std::nullopt when absent, invalid_argument (with `what` as the
// message, e.g. "random_seed must be a decimal integer in 0..2^64-1") when the text is empty, has a sign,
// trailing characters, or lies outside [min, max]. Never throws (std::from_chars).
inline Result<std::optional<uint64_t>> option_u64(const BackendOptions& options, const std::string& key, uint64_t min,
                                                  uint64_t max, const char* what) noexcept {
  auto it = options.find(key);
  if (it == options.end()) return std::optional<uint64_t>{};
  const std::string& text = it->second;
  uint64_t v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto r = std::from_chars(first, last, v, 10);
  if (text.empty() || r.ec != std::errc{} || r.ptr != last || v < min || v > max) {
    return Error{Errc::invalid_argument, what};
  }
  return std::optional<uint64_t>{v};
}

class BackendRegistry {
 public:
  BackendRegistry() = default;
  BackendRegistry(const BackendRegistry&) = delete;
  BackendRegistry& operator=(const BackendRegistry&) = delete;

  // Returns false (and keeps the first) when the name is taken.
  bool add(std::string name, BackendFactory factory) {
    std::lock_guard<std::mutex> lock(mutex_);
    return factories_.emplace(std::move(name), std::move(factory)).second;
  }

  Result<std::unique_ptr<DecoderBackend>> create(const std::string& name, const BackendOptions& options = {}) const {
    BackendFactory factory;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = factories_.find(name);
      if (it == factories_.end()) return Errc::backend_unknown;
      factory = it->second;
    }
    return factory(options);
  }

  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& entry : factories_) out.push_back(entry.first);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, BackendFactory> factories_;
};

}  // namespace slimcodec::server
