// Conv kernels (KxK, 1x1, transposed) against kernels/ref at tile-edge widths, for the build's SIMD arch and
// for the scalar arch, including the fused InstanceNorm statistics.
#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include "kernels/kernel_list.hpp"
#include "kernels/test_util.hpp"
#include "slimcodec/kernels/ref/conv.hpp"

using namespace slimcodec;
using kernels::ChannelStats;

namespace {

// Sums of the reference output per channel, in double.
void ref_stats(const std::vector<float>& y, int c, size_t n, std::vector<double>& sum, std::vector<double>& sq) {
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
void check(const std::vector<float>& got, const std::vector<float>& want, int c, size_t n,
           const std::vector<double>& sum, const std::vector<double>& sq) {
  const float scale = std::max(1.f, test::max_abs(want.data(), want.size()));
  REQUIRE(test::max_abs_diff(got.data(), want.data(), want.size()) <= 1e-5f * scale);
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
    for (int w : test::tail_widths(G::kLanes, G::kChunk)) {
      CAPTURE(cin, cout, k, s, h, w, G::kLanes, G::kChunk);
      const auto x = test::random_vector(size_t(cin) * h * w, 11 + w);
      const auto wt = test::random_vector(size_t(cout) * cin * k * k, 7 + h);
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

template <class T>
using Params = test::KernelParams<T>;

}  // namespace

TEMPLATE_LIST_TEST_CASE("conv_kxk_f32 matches ref::conv2d at tile-edge widths", "[kernels][conv]",
                        test::ConvKxKList) {
  using P = Params<TestType>;
  SECTION("build arch") { sweep_kxk<TestType>(kernels::default_arch{}, P::cin, P::cout, P::k, P::s); }
  SECTION("scalar arch") { sweep_kxk<TestType>(kernels::scalar_arch{}, P::cin, P::cout, P::k, P::s); }
}

TEMPLATE_LIST_TEST_CASE("conv3x3_s1_wino{2,4}_f32 match ref::conv2d at tile-edge widths and heights",
                        "[kernels][conv][winograd]", test::ConvWinoList) {
  using P = Params<TestType>;
  SECTION("build arch") { sweep_kxk<TestType>(kernels::default_arch{}, P::cin, P::cout, P::k, P::s); }
  SECTION("scalar arch") { sweep_kxk<TestType>(kernels::scalar_arch{}, P::cin, P::cout, P::k, P::s); }
}

template <class Kernel, class Arch>
void sweep_1x1(Arch arch, int cin, int cout) {
  using G = typename Kernel::template Geometry<Arch>;
  for (int n : test::tail_widths(G::kLanes, G::kChunk)) {
    CAPTURE(cin, cout, n, G::kLanes, G::kChunk);
    // Inputs sit in a buffer exactly as long as needed, so an over-read shows under ASan.
    const auto x = test::random_vector(size_t(cin) * n, 3 + n);
    const auto wt = test::random_vector(size_t(cout) * cin, 5);
    std::vector<float> got(size_t(cout) * n), want(size_t(cout) * n);
    std::vector<float> scratch(Kernel::scratch_floats());
    std::vector<double> sum(static_cast<size_t>(cout)), sq(static_cast<size_t>(cout));
    Kernel{}(arch, x.data(), size_t(n), wt.data(), got.data(), ChannelStats{sum.data(), sq.data()}, scratch.data());
    kernels::ref::conv2d(x.data(), cin, 1, n, wt.data(), cout, 1, 1, want.data());
    check(got, want, cout, size_t(n), sum, sq);
  }
}

TEMPLATE_LIST_TEST_CASE("conv1x1_f32 matches ref::conv2d (K = 1) at tile-edge lengths", "[kernels][conv]",
                        test::Conv1x1List) {
  using P = Params<TestType>;
  SECTION("build arch") { sweep_1x1<TestType>(kernels::default_arch{}, P::cin, P::cout); }
  SECTION("scalar arch") { sweep_1x1<TestType>(kernels::scalar_arch{}, P::cin, P::cout); }
}

template <class Kernel, class Arch>
void sweep_convt(Arch arch, int cin, int cout, int k) {
  using G = typename Kernel::template Geometry<Arch>;
  for (int h : {1, 2, 3}) {
    for (int w : test::tail_widths(G::kLanes, G::kChunk)) {
      CAPTURE(cin, cout, k, h, w, G::kLanes, G::kChunk);
      const auto x = test::random_vector(size_t(cin) * h * w, 17 + w);
      const auto wt = test::random_vector(size_t(cin) * cout * k * k, 19 + h);
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

TEMPLATE_LIST_TEST_CASE("convt_kxk_s2_f32 matches ref::conv_transpose2d at tile-edge widths", "[kernels][conv]",
                        test::ConvTList) {
  using P = Params<TestType>;
  SECTION("build arch") { sweep_convt<TestType>(kernels::default_arch{}, P::cin, P::cout, P::k); }
  SECTION("scalar arch") { sweep_convt<TestType>(kernels::scalar_arch{}, P::cin, P::cout, P::k); }
}

TEST_CASE("ref::conv2d matches a hand-computed 3x3 stride-2 example", "[kernels][ref]") {
  // 1 channel 3x3 input 1..9, all-ones 3x3 kernel, stride 2, padding 1 -> 2x2 output of window sums.
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  float y[4];
  kernels::ref::conv2d(x, 1, 3, 3, w, 1, 3, 2, y);
  CHECK(y[0] == 1 + 2 + 4 + 5);
  CHECK(y[1] == 2 + 3 + 5 + 6);
  CHECK(y[2] == 4 + 5 + 7 + 8);
  CHECK(y[3] == 5 + 6 + 8 + 9);
}

TEST_CASE("ref::conv_transpose2d matches a hand-computed 3x3 stride-2 example", "[kernels][ref]") {
  // 1x1 input of value 2, kernel 1..9: output (2x2) = the kernel's centre-right-bottom window times 2:
  // out[oy][ox] = w[oy + 1][ox + 1] * 2.
  const float x[1] = {2};
  const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float y[4];
  kernels::ref::conv_transpose2d(x, 1, 1, 1, w, 1, 3, y);
  CHECK(y[0] == 10);
  CHECK(y[1] == 12);
  CHECK(y[2] == 16);
  CHECK(y[3] == 18);
}
