// The paper's models as layer specs (docs/model.md, paper Tables II and III), with their budgets checked at
// compile time.
#pragma once

#include "slimcodec/layers/conv2d.hpp"
#include "slimcodec/layers/ensemble.hpp"
#include "slimcodec/layers/fused_mbconv.hpp"
#include "slimcodec/layers/sequential.hpp"
#include "slimcodec/layers/shape.hpp"

namespace slimcodec::layers::paper {

// Encoder member, Table II: 3 x H x W -> 6 x H/4 x W/4.
using Member = Sequential<Conv2D<3, 6, 3, 2>,             //
                          FusedMBConv<6, 4, 3, 1, 1>,     // 6 != 4: no skip
                          FusedMBConv<4, 4, 3, 1, 1>,     // skip
                          FusedMBConv<4, 6, 3, 2, 6>,     //
                          FusedMBConv<6, 6, 3, 1, 6>,     // skip
                          FusedMBConv<6, 6, 3, 1, 6, false>>;

using Encoder = Ensemble<Member, 4>;

// Reconstructor, Table III: 6 x H x W -> 24 x 2H x 2W.
using Reconstructor = Sequential<FusedMBConv<6, 48, 1, 1, 6>,   //
                                 FusedMBConv<48, 48, 3, 1, 6>,  // skip
                                 FusedMBConvT<48, 48, 3, 6>,    // 2x up
                                 FusedMBConv<48, 48, 3, 1, 6>,  // skip
                                 FusedMBConv<48, 24, 3, 1, 6>>;

inline constexpr Shape kInput{3, 384, 384};  // the 768 x 768 frame downscaled
inline constexpr Shape kLatent{6, 96, 96};   // what goes on the wire
inline constexpr Shape kReconstructed{24, 192, 192};

static_assert(Member::out_shape(kInput) == kLatent, "paper member: 3x384x384 -> 6x96x96");
static_assert(Reconstructor::out_shape(kLatent) == kReconstructed, "paper reconstructor: 6x96x96 -> 24x192x192");
static_assert(Member::params() == 6597, "paper member: 6,597 parameters (docs/model.md)");
// Conv multiply-adds 73,801,728 plus 212 in the squeeze-excite FCs: 73.8 M.
static_assert(Member::macs(kInput) == 73'801'940, "paper member: 73.8 M multiply-adds at 384x384");
static_assert(Member::macs(kInput) / 100'000 == 738, "paper member: 73.8 M multiply-adds at 384x384");
static_assert(Encoder::params() == 4 * 6597, "paper encoder: four members");

}  // namespace slimcodec::layers::paper
