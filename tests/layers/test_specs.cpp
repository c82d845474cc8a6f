// Compile-time layer specs: shapes, parameters, MACs, activations and scratch for the paper's models and a
// few hand-checked small ones; tensor names as docs/model.md lists them.
#include <catch2/catch.hpp>

#include <string>

#include "layers/map_source.hpp"
#include <slimcodec/layers/layers.hpp>
#include <slimcodec/model/network.hpp>

using namespace slimcodec;
using namespace slimcodec::layers;

// Everything below is checked by the compiler; the test case only keeps the file in the suite.
namespace {

// Conv2D<3,6,3,2> at 3x8x8: 6x4x4 output, 6*3*9 + 12 parameters, 96 outputs * 27 MACs.
using Stem = Conv2D<3, 6, 3, 2>;
static_assert(Stem::out_shape({3, 8, 8}) == Shape{6, 4, 4});
static_assert(Stem::out_shape({3, 7, 5}) == Shape{6, 4, 3});  // PyTorch: floor((n + 2 - 3) / 2) + 1
static_assert(Stem::params() == 174);
static_assert(Stem::macs({3, 8, 8}) == 96 * 27);
static_assert(Stem::flops({3, 8, 8}) == 2 * 96 * 27);

// FusedMBConv<4,6,3,2,6>: Ce = 24, Csq = 1; 864 + 48 + 25 + 48 + 144 + 12 = 1141 parameters.
using Down = FusedMBConv<4, 6, 3, 2, 6>;
static_assert(Down::kExpanded == 24 && Down::kSqueezed == 1 && !Down::kSkip);
static_assert(Down::params() == 1141);
static_assert(Down::out_shape({4, 192, 192}) == Shape{6, 96, 96});
static_assert(Down::macs({4, 192, 192}) == 9216LL * 864 + 2 * 24 + 9216LL * 144);
static_assert(Down::activations({4, 192, 192}) == 24 * 9216 + 6 * 9216);

// Skip rules: allowed only when S == 1 and Cin == Cout; Skip = false turns it off.
static_assert(FusedMBConv<4, 4, 3, 1, 1>::kSkip);
static_assert(!FusedMBConv<6, 4, 3, 1, 1>::kSkip);
static_assert(!FusedMBConv<6, 6, 3, 1, 6, false>::kSkip);
static_assert(!FusedMBConv<6, 6, 3, 2, 6>::kSkip);
static_assert(!FusedMBConvT<48, 48, 3, 6>::kSkip);

// Squeeze width: max(1, floor(Cin / 4)).
static_assert(FusedMBConv<48, 48, 3, 1, 6>::kSqueezed == 12);
static_assert(FusedMBConv<3, 3, 3, 1, 2>::kSqueezed == 1);

// Transposed: 2H x 2W; MACs count only taps that land inside the output (3H - 1 per axis for K = 3).
using Up = FusedMBConvT<48, 48, 3, 6>;
static_assert(Up::out_shape({48, 96, 96}) == Shape{48, 192, 192});
static_assert(Up::transposed_taps(96) == 3 * 96 - 1);
static_assert(Up::params() == 48 * 288 * 9 + 576 + (12 * 288 + 12) + (288 * 12 + 288) + 48 * 288 + 96);

// The paper's member, encoder and reconstructor (docs/model.md).
static_assert(paper::Member::kIn == 3 && paper::Member::kOut == 6 && paper::Member::kStages == 6);
static_assert(paper::Member::params() == 6597);
static_assert(paper::Member::macs(paper::kInput) == 73'801'940);
static_assert(paper::Member::out_shape(paper::kInput) == paper::kLatent);
static_assert(paper::Member::stage_in_shape<3>(paper::kInput) == Shape{4, 192, 192});
static_assert(paper::Member::kTensors == 3 + 5 * 10);
static_assert(paper::Encoder::kTensors == 212);
static_assert(paper::Encoder::params() == 4 * 6597);
static_assert(paper::Encoder::macs(paper::kInput, 1) == paper::Member::macs(paper::kInput));
static_assert(paper::Encoder::macs(paper::kInput, 4) == 4 * paper::Member::macs(paper::kInput) + 3 * 55296);
static_assert(paper::Encoder::member_weight(0) == 1.f && paper::Encoder::member_weight(3) == 0.125f);
static_assert(paper::Reconstructor::kTensors == 50);
static_assert(paper::Reconstructor::out_shape(paper::kLatent) == paper::kReconstructed);
// Activations: conv outputs of the member (stem 221,184; expanded + projected maps of the blocks).
static_assert(paper::Member::activations(paper::kInput) ==
              221184 + (221184 + 147456) + (147456 + 147456) + (221184 + 55296) + 2 * (331776 + 55296));
// Scratch is known at compile time: two 6x192x192 ping-pong maps plus the largest stage's scratch.
static_assert(paper::Member::buffer_floats(paper::kInput) == 6 * 192 * 192);
static_assert(paper::Encoder::scratch_bytes(paper::kInput) ==
              (paper::Member::scratch_floats(paper::kInput) + 55296) * sizeof(float));
constexpr size_t kPaperEncoderBytes = model::Network<paper::Encoder>::memory_bytes(paper::kInput);
static_assert(kPaperEncoderBytes > 4 * 6597 * sizeof(float) && kPaperEncoderBytes < (8u << 20),
              "the paper encoder fits a few MB");

}  // namespace

TEST_CASE("layer specs are compile-time facts (see static_asserts)", "[layers][spec]") {
  CHECK(paper::Member::params() == 6597);
  CHECK(kPaperEncoderBytes < (8u << 20));
}

TEST_CASE("tensor names follow docs/model.md", "[layers][names]") {
  test::RandomSource src(1);
  auto net = model::Network<paper::Encoder>::create(8, 8);
  REQUIRE(net);
  REQUIRE(net->load(src, "encoder"));
  const auto& t = src.stored.tensors;
  CHECK(t.size() == 212);
  for (const char* name : {"encoder.members.0.stages.0.conv.weight", "encoder.members.0.stages.0.norm.bias",
                           "encoder.members.2.stages.4.se.reduce.bias", "encoder.members.3.stages.5.project.norm.weight",
                           "encoder.members.1.stages.3.expand.conv.weight"}) {
    CHECK(t.count(name) == 1);
  }
  CHECK(t.at("encoder.members.1.stages.3.expand.conv.weight").shape == std::vector<int64_t>{24, 4, 3, 3});
  CHECK(t.at("encoder.members.0.stages.4.se.expand.weight").shape == std::vector<int64_t>{36, 1, 1, 1});

  test::RandomSource rsrc(2);
  auto rec = model::Network<paper::Reconstructor>::create(4, 4);
  REQUIRE(rec);
  REQUIRE(rec->load(rsrc, "reconstructor."));
  CHECK(rsrc.stored.tensors.size() == 50);
  // Transposed conv weight is [Cin, Ce, K, K].
  CHECK(rsrc.stored.tensors.at("reconstructor.stages.2.expand.conv.weight").shape ==
        std::vector<int64_t>{48, 288, 3, 3});
  CHECK(rsrc.stored.tensors.at("reconstructor.stages.1.se.reduce.weight").shape ==
        std::vector<int64_t>{12, 288, 1, 1});
}
