// Deterministic weight initialisation for benchmarks, examples and tests: SplitMix64 and PyTorch-like bounds.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace slimcodec::layers {

// SplitMix64: tiny, fast, and the same sequence on every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) noexcept : state_(seed) {}
  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) noexcept {
    return lo + (hi - lo) * float(double(next() >> 40) * (1.0 / double(1ull << 24)));
  }
  void fill(float* p, size_t n, float lo, float hi) noexcept {
    for (size_t i = 0; i < n; ++i) p[i] = uniform(lo, hi);
  }
  // PyTorch's default conv init bound, 1 / sqrt(fan_in).
  void fill_fan_in(float* p, size_t n, size_t fan_in) noexcept {
    const float b = 1.f / std::sqrt(float(fan_in));
    fill(p, n, -b, b);
  }

 private:
  uint64_t state_;
};

}  // namespace slimcodec::layers
