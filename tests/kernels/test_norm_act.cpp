// Elementwise kernels (exp, sigmoid, SiLU, norm + SiLU + pool, norm + skip, axpy) and the folded
// squeeze-excite against double-precision references, for the build's SIMD arch and the scalar arch.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "kernels/test_util.hpp"
#include <slimcodec/kernels/activation.hpp>
#include <slimcodec/kernels/conv_1x1.hpp>
#include <slimcodec/kernels/norm_act.hpp>
#include <slimcodec/kernels/ref/conv.hpp>
#include <slimcodec/kernels/ref/norm_act.hpp>
#include <slimcodec/kernels/squeeze_excite.hpp>

using namespace slimcodec;

namespace {

// Applies f to every element of x through V (full vectors only; n is a multiple of lanes<V>()).
template <class V, class F>
std::vector<float> map_vec(const std::vector<float>& x, F f) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i += kernels::lanes<V>()) kernels::vstore(&y[i], f(kernels::vload<V>(&x[i])));
  return y;
}

std::vector<float> sweep_inputs() {
  std::vector<float> x;
  for (int i = -20000; i < 20000; ++i) x.push_back(float(i) * 0.005f);  // [-100, 100)
  for (float v : {-1e4f, -500.f, -88.f, -87.f, 87.f, 88.f, 89.f, 500.f, 1e4f, 0.f, -0.f, 1e-30f, -1e-30f}) x.push_back(v);
  while (x.size() % kernels::kMaxLanes != 0) x.push_back(0.25f);
  return x;
}

template <class Arch>
void check_activations(Arch) {
  using V = kernels::vec_t<Arch>;
  const auto x = sweep_inputs();
  const auto ex = map_vec<V>(x, [](V v) { return kernels::vexp(v); });
  const auto sg = map_vec<V>(x, [](V v) { return kernels::sigmoid(v); });
  const auto sl = map_vec<V>(x, [](V v) { return kernels::silu(v); });
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(x[i]);
    const double xd = x[i];
    // exp: the 2^f polynomial is good to 2.7e-6; rounding x * log2(e) to float adds up to 6e-8 |x|.
    if (std::fabs(xd) <= 87.0) {
      REQUIRE(std::fabs(ex[i] - std::exp(xd)) <= (3e-6 + 1e-7 * std::fabs(xd)) * std::exp(xd));
    }
    REQUIRE(std::fabs(sg[i] - kernels::ref::sigmoid(xd)) <= 4e-6);
    REQUIRE(std::fabs(sl[i] - kernels::ref::silu(xd)) <= 4e-6 * std::max(1.0, std::fabs(xd)));
  }
}

}  // namespace

TEST_CASE("vexp, sigmoid and silu match double precision over [-100, 100] and extremes", "[kernels][activation]") {
  SECTION("build arch") { check_activations(kernels::default_arch{}); }
  SECTION("scalar arch") { check_activations(kernels::scalar_arch{}); }
}

TEST_CASE("norm_coeffs_f32 turns sums into InstanceNorm scale and shift", "[kernels][norm]") {
  // Channel 0: values 1, 2, 3, 4 -> mean 2.5, biased var 1.25. Channel 1: constant 7 -> var 0.
  const double sum[2] = {10.0, 28.0}, sumsq[2] = {30.0, 196.0};
  const float gamma[2] = {2.f, 1.f}, beta[2] = {0.5f, -1.f};
  float scale[2], shift[2];
  kernels::norm_coeffs_f32(sum, sumsq, 2, 4, gamma, beta, scale, shift);
  const double s0 = 2.0 / std::sqrt(1.25 + 1e-5);
  CHECK(scale[0] == Approx(s0).epsilon(1e-6));
  CHECK(shift[0] == Approx(0.5 - 2.5 * s0).epsilon(1e-6));
  const double s1 = 1.0 / std::sqrt(1e-5);
  CHECK(scale[1] == Approx(s1).epsilon(1e-6));
  CHECK(shift[1] == Approx(-1.0 - 7.0 * s1).epsilon(1e-6));
}

template <class Arch>
void check_norm_passes(Arch arch) {
  constexpr int C = 3;
  for (int n : test::tail_widths(int(kernels::lanes<kernels::vec_t<Arch>>()), 64)) {
    CAPTURE(n);
    const auto x = test::random_vector(size_t(C) * n, 100 + n, -3.f, 3.f);
    const auto skip = test::random_vector(size_t(C) * n, 200 + n);
    const float scale[C] = {0.7f, -1.3f, 2.f}, shift[C] = {0.1f, 0.f, -0.4f};
    // norm + SiLU + pool, against the double reference.
    std::vector<float> got = x;
    float pool[C];
    kernels::norm_silu_pool_f32{}(arch, got.data(), C, size_t(n), scale, shift, pool);
    for (int c = 0; c < C; ++c) {
      double mean = 0.0;
      for (int i = 0; i < n; ++i) {
        const size_t k = size_t(c) * n + i;
        const double want = kernels::ref::silu(double(x[k]) * scale[c] + shift[c]);
        REQUIRE(std::fabs(got[k] - want) <= 2e-5 * std::max(1.0, std::fabs(want)));
        mean += want;
      }
      REQUIRE(std::fabs(pool[c] - mean / n) <= 2e-5);
    }
    // norm + SiLU without pool: same values, pool untouched.
    std::vector<float> got2 = x;
    float untouched[C] = {42.f, 42.f, 42.f};
    kernels::norm_silu_f32{}(arch, got2.data(), C, size_t(n), scale, shift, untouched);
    REQUIRE(got2 == got);
    REQUIRE(untouched[0] == 42.f);
    // norm + skip and norm alone.
    std::vector<float> a = x, b = x;
    kernels::norm_affine_skip_f32{}(arch, a.data(), C, size_t(n), scale, shift, skip.data());
    kernels::norm_affine_f32{}(arch, b.data(), C, size_t(n), scale, shift, nullptr);
    for (int c = 0; c < C; ++c) {
      for (int i = 0; i < n; ++i) {
        const size_t k = size_t(c) * n + i;
        const double affine = double(x[k]) * scale[c] + shift[c];
        REQUIRE(std::fabs(b[k] - affine) <= 1e-6 * std::max(1.0, std::fabs(affine)));
        REQUIRE(std::fabs(a[k] - (affine + skip[k])) <= 1e-6 * std::max(1.0, std::fabs(affine + skip[k])));
      }
    }
    // axpy.
    std::vector<float> y = skip;
    kernels::axpy_f32{}(arch, x.data(), 0.25f, y.data(), x.size());
    for (size_t k = 0; k < y.size(); ++k) REQUIRE(std::fabs(y[k] - (skip[k] + 0.25 * x[k])) <= 1e-6);
  }
}

TEST_CASE("norm_silu(_pool)_f32, norm_affine(_skip)_f32 and axpy_f32 at tail lengths", "[kernels][norm]") {
  SECTION("build arch") { check_norm_passes(kernels::default_arch{}); }
  SECTION("scalar arch") { check_norm_passes(kernels::scalar_arch{}); }
}

TEST_CASE("squeeze-excite folded into the projection equals gating the map then projecting", "[kernels][se]") {
  constexpr int Ce = 12, Csq = 3, Cout = 5, N = 37;
  const auto map = test::random_vector(size_t(Ce) * N, 1, 0.f, 2.f);
  const auto wr = test::random_vector(Csq * Ce, 2), br = test::random_vector(Csq, 3);
  const auto we = test::random_vector(Ce * Csq, 4), be = test::random_vector(Ce, 5);
  const auto wp = test::random_vector(Cout * Ce, 6);
  // Reference: pool, gate, scale the map in place, then a plain 1x1 conv.
  std::vector<float> gated = map, want(size_t(Cout) * N);
  kernels::ref::squeeze_excite(gated.data(), Ce, N, Csq, wr.data(), br.data(), we.data(), be.data());
  kernels::ref::conv2d(gated.data(), Ce, 1, N, wp.data(), Cout, 1, 1, want.data());
  // Kernels: gate from pooled means, folded into the projection weights; the map is never touched.
  float pool[Ce], gate[Ce], folded[Cout * Ce];
  for (int c = 0; c < Ce; ++c) {
    double s = 0.0;
    for (int i = 0; i < N; ++i) s += map[size_t(c) * N + i];
    pool[c] = float(s / N);
  }
  kernels::se_gate_f32<Ce, Csq>(pool, wr.data(), br.data(), we.data(), be.data(), gate);
  kernels::fold_gate_f32<Cout, Ce>(wp.data(), gate, folded);
  std::vector<float> got(size_t(Cout) * N), scratch(kernels::conv1x1_f32<Ce, Cout>::scratch_floats());
  double sum[Cout], sq[Cout];
  kernels::conv1x1_f32<Ce, Cout>{}(map.data(), N, folded, got.data(), kernels::ChannelStats{sum, sq}, scratch.data());
  REQUIRE(test::max_abs_diff(got.data(), want.data(), want.size()) <= 1e-5f * std::max(1.f, test::max_abs(want.data(), want.size())));
}
