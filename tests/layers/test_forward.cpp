// Every layer spec's fast forward (kernels/) against its plain-loop reference composition (kernels/ref), on
// small and odd sizes, for the build's SIMD arch and the scalar arch.
#include <catch2/catch.hpp>

#include <cmath>
#include <tuple>
#include <vector>

#include "kernels/test_util.hpp"
#include <slimcodec/layers/layers.hpp>
#include <slimcodec/model/aligned_buffer.hpp>

using namespace slimcodec;
using namespace slimcodec::layers;

namespace {

template <class Spec, class Arch, class... Active>
void check_spec(Arch arch, Shape in, uint64_t seed, Active... active) {
  CAPTURE(in.c, in.h, in.w, seed);
  auto w = std::make_unique<typename Spec::Weights>();
  SplitMix64 rng(seed);
  Spec::init_random(*w, rng);
  const auto x = test::random_vector(size_t(in.size()), seed + 1, -2.f, 2.f);
  const Shape os = Spec::out_shape(in);
  std::vector<float> got(size_t(os.size())), want(size_t(os.size()));
  model::AlignedBuffer scratch(Spec::scratch_bytes(in));
  REQUIRE(scratch);
  Spec::forward(arch, *w, in, x.data(), got.data(), reinterpret_cast<float*>(scratch.data()), active...);
  Spec::forward_reference(*w, in, x.data(), want.data(), active...);
  const float scale = std::max(1.f, test::max_abs(want.data(), want.size()));
  REQUIRE(test::max_abs_diff(got.data(), want.data(), want.size()) <= 1e-4f * scale);
}

template <class Spec, class Arch>
void sweep(Arch arch, std::initializer_list<Shape> shapes) {
  uint64_t seed = 1;
  for (Shape s : shapes) check_spec<Spec>(arch, s, seed += 10);
}

template <class Arch>
void all_layers(Arch arch) {
  sweep<Conv2D<3, 6, 3, 2>>(arch, {{3, 16, 16}, {3, 7, 13}, {3, 1, 1}, {3, 2, 35}});
  sweep<Conv2D<4, 5, 3, 1>>(arch, {{4, 9, 17}, {4, 1, 3}, {4, 6, 50}});
  sweep<Conv2D<2, 3, 5, 1>>(arch, {{2, 7, 9}});
  sweep<FusedMBConv<6, 4, 3, 1, 1>>(arch, {{6, 12, 12}, {6, 5, 19}});
  sweep<FusedMBConv<4, 4, 3, 1, 1>>(arch, {{4, 12, 12}, {4, 3, 33}});
  sweep<FusedMBConv<4, 6, 3, 2, 6>>(arch, {{4, 12, 12}, {4, 9, 7}});
  sweep<FusedMBConv<6, 6, 3, 1, 6>>(arch, {{6, 8, 8}, {6, 5, 17}});
  sweep<FusedMBConv<6, 6, 3, 1, 6, false>>(arch, {{6, 8, 8}});
  sweep<FusedMBConv<6, 48, 1, 1, 6>>(arch, {{6, 5, 6}});
  sweep<FusedMBConv<6, 8, 3, 1, 1>>(arch, {{6, 5, 6}});  // Cout > Ce: statistics buffers sized for both
  sweep<FusedMBConv<8, 8, 5, 1, 2>>(arch, {{8, 6, 7}});
  sweep<FusedMBConvT<4, 8, 3, 2>>(arch, {{4, 5, 6}, {4, 1, 1}});
  sweep<FusedMBConvT<3, 5, 5, 1>>(arch, {{3, 4, 3}});
}

}  // namespace

TEST_CASE("Conv2D, FusedMBConv and FusedMBConvT match their reference compositions", "[layers][forward]") {
  SECTION("build arch") { all_layers(kernels::default_arch{}); }
  // The forced-scalar build runs all of the above on the plain-float path; here one block of each kind.
  SECTION("scalar arch") {
    sweep<FusedMBConv<4, 6, 3, 2, 6>>(kernels::scalar_arch{}, {{4, 9, 7}});
    sweep<FusedMBConvT<4, 8, 3, 2>>(kernels::scalar_arch{}, {{4, 5, 6}});
  }
}

TEST_CASE("the paper member and reconstructor match their reference compositions", "[layers][forward]") {
  SECTION("member, build arch") { sweep<paper::Member>(kernels::default_arch{}, {{3, 32, 32}, {3, 20, 28}, {3, 9, 11}}); }
  SECTION("member, scalar arch") { sweep<paper::Member>(kernels::scalar_arch{}, {{3, 20, 28}}); }
  SECTION("reconstructor") { sweep<paper::Reconstructor>(kernels::default_arch{}, {{6, 4, 5}}); }
}

TEST_CASE("Ensemble sums 2^-m weighted members for every active size", "[layers][ensemble]") {
  using E = Ensemble<Sequential<Conv2D<3, 4, 3, 2>, FusedMBConv<4, 4, 3, 1, 2>>, 3>;
  for (int s = 1; s <= 3; ++s) {
    CAPTURE(s);
    check_spec<E>(kernels::default_arch{}, {3, 10, 14}, 77, s);
  }
  // The weighting itself: a 1-member slice equals member 0 alone; member 1 enters with weight 1/2.
  auto w = std::make_unique<E::Weights>();
  SplitMix64 rng(5);
  E::init_random(*w, rng);
  const Shape in{3, 8, 8};
  const auto x = test::random_vector(size_t(in.size()), 6);
  const size_t n = size_t(E::out_shape(in).size());
  std::vector<float> y1(n), y2(n), m1(n);
  E::forward_reference(*w, in, x.data(), y1.data(), 1);
  E::forward_reference(*w, in, x.data(), y2.data(), 2);
  E::MemberSpec::forward_reference((*w)[1], in, x.data(), m1.data());
  for (size_t i = 0; i < n; ++i) REQUIRE(std::fabs(y2[i] - (y1[i] + 0.5f * m1[i])) <= 1e-5f);
}
