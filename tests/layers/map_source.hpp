// In-memory weight Sources for tests: MapSource holds named tensors; RandomSource invents a random tensor
// of whatever shape the spec asks for (and records the names), so a test can fill any network.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <slimcodec/common/result.hpp>
#include <slimcodec/layers/random_init.hpp>

namespace slimcodec::test {

struct StoredTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class MapSource {
 public:
  std::map<std::string, StoredTensor, std::less<>> tensors;

  Result<const float*> tensor_f32(std::string_view name, const int64_t* shape, size_t rank) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) return Error{Errc::tensor_missing, "no such tensor"};
    if (it->second.shape != std::vector<int64_t>(shape, shape + rank)) return Error{Errc::tensor_shape_mismatch};
    return it->second.data.data();
  }
  size_t count_with_prefix(std::string_view prefix) const {
    size_t n = 0;
    for (const auto& kv : tensors) n += std::string_view(kv.first).substr(0, prefix.size()) == prefix ? 1 : 0;
    return n;
  }
};

// Answers every request with fresh random values of the requested shape and remembers it, so afterwards
// `stored` is a MapSource holding exactly the tensors a spec binds.
class RandomSource {
 public:
  explicit RandomSource(uint64_t seed) : rng_(seed) {}
  mutable MapSource stored;

  Result<const float*> tensor_f32(std::string_view name, const int64_t* shape, size_t rank) const {
    auto it = stored.tensors.find(name);
    if (it == stored.tensors.end()) {
      StoredTensor t;
      t.shape.assign(shape, shape + rank);
      size_t n = 1;
      for (size_t i = 0; i < rank; ++i) n *= size_t(shape[i]);
      t.data.resize(n);
      // Norm weights (rank 1, named *.weight) stay positive, like trained ones.
      const bool gamma = rank == 1 && name.size() >= 11 && name.substr(name.size() - 11) == "norm.weight";
      rng_.fill(t.data.data(), n, gamma ? 0.5f : -0.6f, gamma ? 1.5f : 0.6f);
      it = stored.tensors.emplace(std::string(name), std::move(t)).first;
    }
    return stored.tensor_f32(name, shape, rank);
  }
  size_t count_with_prefix(std::string_view prefix) const { return stored.count_with_prefix(prefix); }

 private:
  mutable layers::SplitMix64 rng_;
};

}  // namespace slimcodec::test
