// 1x1 and transposed conv kernels against kernels/ref at tile-edge sizes (with fused statistics), the scalar
// path of each kernel family, and hand-computed reference examples.
#include <catch2/catch.hpp>

#include "kernels/conv_check.hpp"

using namespace slimcodec;
using namespace slimcodec::test;

TEMPLATE_LIST_TEST_CASE("conv1x1_f32 matches ref::conv2d (K = 1) at tile-edge lengths", "[kernels][conv]",
                        test::Conv1x1List) {
  using P = KernelParams<TestType>;
  sweep_1x1<TestType>(kernels::default_arch{}, P::cin, P::cout);
}

TEMPLATE_LIST_TEST_CASE("convt_kxk_s2_f32 matches ref::conv_transpose2d at tile-edge widths", "[kernels][conv]",
                        test::ConvTList) {
  using P = KernelParams<TestType>;
  sweep_convt<TestType>(kernels::default_arch{}, P::cin, P::cout, P::k);
}

// The plain-float path on a SIMD build (the forced-scalar build runs every listed kernel this way), one kernel
// of each family.
TEST_CASE("the scalar arch path of each kernel family matches the reference", "[kernels][conv][scalar]") {
  sweep_kxk<kernels::conv_kxk_f32<4, 24, 3, 2>>(kernels::scalar_arch{}, 4, 24, 3, 2);
  sweep_kxk<kernels::conv3x3_s1_wino4_f32<5, 10>>(kernels::scalar_arch{}, 5, 10, 3, 1);
  sweep_kxk<kernels::conv3x3_s1_wino2_f32<3, 7>>(kernels::scalar_arch{}, 3, 7, 3, 1);
  sweep_1x1<kernels::conv1x1_f32<5, 7>>(kernels::scalar_arch{}, 5, 7);
  sweep_convt<kernels::convt_kxk_s2_f32<3, 5, 3>>(kernels::scalar_arch{}, 3, 5, 3);
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
