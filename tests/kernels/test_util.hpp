// Helpers for kernel tests: deterministic random buffers, error measures, and the width sweep around tiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <slimcodec/layers/random_init.hpp>

namespace slimcodec::test {

inline std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(n);
  layers::SplitMix64 rng(seed);
  rng.fill(v.data(), n, lo, hi);
  return v;
}

inline float max_abs(const float* a, size_t n) {
  float m = 0.f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i]));
  return m;
}

inline float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0.f;
  for (size_t i = 0; i < n; ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates as a failure
  }
  return m;
}

// 1, tile - 1, tile, tile + 1, 3 tile + 5 for the vector width and for the kernel's chunk width.
inline std::vector<int> tail_widths(int lanes, int chunk) {
  std::vector<int> w = {1, 2, 3};
  for (int t : {lanes, chunk}) {
    for (int v : {t - 1, t, t + 1, 3 * t + 5}) w.push_back(v);
  }
  std::sort(w.begin(), w.end());
  w.erase(std::unique(w.begin(), w.end()), w.end());
  w.erase(std::remove_if(w.begin(), w.end(), [](int v) { return v < 1; }), w.end());
  return w;
}

}  // namespace slimcodec::test
