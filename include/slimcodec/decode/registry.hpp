// Run-time registry of decoder backends by name. Adding a backend is one class and one line:
//   inline const bool kMyBackendRegistered = BackendRegistry::global().add("mine", make_my_backend);
#pragma once

#include <slimcodec/decode/backend.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace slimcodec::decode {

// Free-form settings for a backend ("weights" -> path, "module" -> path, ...).
using BackendOptions = std::map<std::string, std::string>;
using BackendFactory = std::function<Result<std::unique_ptr<DecoderBackend>>(const BackendOptions&)>;

class BackendRegistry {
 public:
  static BackendRegistry& global() {
    static BackendRegistry registry;
    return registry;
  }

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

}  // namespace slimcodec::decode
