// KxK and Winograd conv kernels against kernels/ref at tile-edge widths and heights, including the fused
// InstanceNorm statistics.
#include <catch2/catch.hpp>

#include "kernels/conv_check.hpp"

using namespace slimcodec;
using namespace slimcodec::test;

TEMPLATE_LIST_TEST_CASE("conv_kxk_f32 matches ref::conv2d at tile-edge widths", "[kernels][conv]",
                        test::ConvKxKList) {
  using P = KernelParams<TestType>;
  sweep_kxk<TestType>(kernels::default_arch{}, P::cin, P::cout, P::k, P::s);
}

TEMPLATE_LIST_TEST_CASE("conv3x3_s1_wino{2,4}_f32 match ref::conv2d at tile-edge widths and heights",
                        "[kernels][conv][winograd]", test::ConvWinoList) {
  using P = KernelParams<TestType>;
  sweep_kxk<TestType>(kernels::default_arch{}, P::cin, P::cout, P::k, P::s);
}

