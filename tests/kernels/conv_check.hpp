// Sweeps shared by the conv kernel tests: run a kernel and kernels/ref on random data at tile-edge sizes and
// compare outputs and fused statistics.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "kernels/kernel_list.hpp"
#include "kernels/test_util.hpp"
#include <slimcodec/kernels/ref/conv.hpp>

namespace slimcodec::test {
using kernels::ChannelStats;

// Sums of the reference output per channel, in double.
inline void ref_stats(const std::vector<float>& y, int c, size_t n, std::vector<double>& sum, std::vector<double>& sq) {
  sum.assign(size_t(c), 0.0);
  sq.assign(size_t(c), 0.0);
  for (int ch = 0; ch < c; ++ch) {
    for (size_t i = 0; i < n; ++i) {
      const double v = y[size_t(ch) * n + i];
      sum[size_t(ch)] += v;
      sq[size_t(ch)] += v * v;
    }
  }
}

// Output within 1e-5 of max(1, max|ref|); sums within 1e-5 of n * max(1, max|ref|)^2.
inline void check(const std::vector<float>& got, const std::vector<float>& want, int c, size_t n,
                  const std::vector<double>& sum, const std::vector<double>& sq) {
  const float scale = std::max(1.f, max_abs(want.data(), want.size()));
  REQUIRE(max_abs_diff(got.data(), want.data(), want.size()) <= 1e-5f * scale);
  std::vector<double> rs, rq;
  ref_stats(want, c, n, rs, rq);
  for (int ch = 0; ch < c; ++ch) {
    REQUIRE(std::fabs(sum[size_t(ch)] - rs[size_t(ch)]) <= 1e-5 * double(n) * scale);
    REQUIRE(std::fabs(sq[size_t(ch)] - rq[size_t(ch)]) <= 1e-5 * double(n) * scale * scale);
  }
}

template <class Kernel, class Arch>
void sweep_kxk(Arch arch, int cin, int cout, int k, int s) {
  using G = typename Kernel::template Geometry<Arch>;
  for (int h : {1, 2, 3, 5, 6, 9}) {
    for (int w : tail_widths(G::kLanes, G::kChunk)) {
      CAPTURE(cin, cout, k, s, h, w, G::kLanes, G::kChunk);
      const auto x = random_vector(size_t(cin) * h * w, 11 + w);
      const auto wt = random_vector(size_t(cout) * cin * k * k, 7 + h);
      const int ho = Kernel::out_size(h), wo = Kernel::out_size(w);
      const size_t n = size_t(ho) * wo;
      // Guard values after the output catch writes past the end.
      std::vector<float> got(size_t(cout) * n + 64, 12345.f), want(size_t(cout) * n);
      std::vector<float> scratch(Kernel::scratch_floats(w), -7.f);
      std::vector<double> sum(size_t(cout), -1.0), sq(size_t(cout), -1.0);
      Kernel{}(arch, x.data(), h, w, wt.data(), got.data(), ChannelStats{sum.data(), sq.data()}, scratch.data());
      kernels::ref::conv2d(x.data(), cin, h, w, wt.data(), cout, k, s, want.data());
      for (size_t i = size_t(cout) * n; i < got.size(); ++i) REQUIRE(got[i] == 12345.f);
      got.resize(size_t(cout) * n);
      check(got, want, cout, n, sum, sq);
    }
  }
}


template <class Kernel, class Arch>
void sweep_1x1(Arch arch, int cin, int cout) {
  using G = typename Kernel::template Geometry<Arch>;
  for (int n : tail_widths(G::kLanes, G::kChunk)) {
    CAPTURE(cin, cout, n, G::kLanes, G::kChunk);
    // Input and output start one float past an aligned address and end exactly at their buffers' ends, so
    // unaligned access is exercised and an over-read or over-write shows under ASan.
    const auto xb = random_vector(size_t(cin) * n + 1, 3 + n);
    const float* x = xb.data() + 1;
    const auto wt = random_vector(size_t(cout) * cin, 5);
    std::vector<float> gotb(size_t(cout) * n + 1), want(size_t(cout) * n);
    std::vector<float> scratch(Kernel::scratch_floats());
    std::vector<double> sum(static_cast<size_t>(cout)), sq(static_cast<size_t>(cout));
    Kernel{}(arch, x, size_t(n), wt.data(), gotb.data() + 1, ChannelStats{sum.data(), sq.data()}, scratch.data());
    kernels::ref::conv2d(x, cin, 1, n, wt.data(), cout, 1, 1, want.data());
    check(std::vector<float>(gotb.begin() + 1, gotb.end()), want, cout, size_t(n), sum, sq);
  }
}

template <class Kernel, class Arch>
void sweep_convt(Arch arch, int cin, int cout, int k) {
  using G = typename Kernel::template Geometry<Arch>;
  for (int h : {1, 2, 3}) {
    for (int w : tail_widths(G::kLanes, G::kChunk)) {
      CAPTURE(cin, cout, k, h, w, G::kLanes, G::kChunk);
      const auto x = random_vector(size_t(cin) * h * w, 17 + w);
      const auto wt = random_vector(size_t(cin) * cout * k * k, 19 + h);
      const int ho = 2 * h, wo = 2 * w;
      REQUIRE(kernels::ref::conv_transpose_out_size(h, k) == ho);
      const size_t n = size_t(ho) * wo;
      std::vector<float> got(size_t(cout) * n), want(size_t(cout) * n);
      std::vector<float> scratch(Kernel::scratch_floats());
      std::vector<double> sum(static_cast<size_t>(cout)), sq(static_cast<size_t>(cout));
      Kernel{}(arch, x.data(), h, w, wt.data(), got.data(), ChannelStats{sum.data(), sq.data()}, scratch.data());
      kernels::ref::conv_transpose2d(x.data(), cin, h, w, wt.data(), cout, k, want.data());
      check(got, want, cout, n, sum, sq);
    }
  }
}

}  // namespace slimcodec::test
