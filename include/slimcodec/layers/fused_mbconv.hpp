// FusedMBConv<Cin, Cout, K, S, SR, Skip> and FusedMBConvT<Cin, Cout, K, SR> (2x upsampling), as docs/model.md
// defines them: expand (KxK conv or transposed conv) -> norm -> SiLU -> squeeze-excite -> 1x1 project -> norm
// (+ identity skip). Both share one implementation, detail::MBConv.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "slimcodec/common/result.hpp"
#include "slimcodec/kernels/conv_1x1.hpp"
#include "slimcodec/kernels/conv3x3_winograd.hpp"
#include "slimcodec/kernels/conv_kxk.hpp"
#include "slimcodec/kernels/conv_transpose.hpp"
#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/ref/conv.hpp"
#include "slimcodec/kernels/ref/norm_act.hpp"
#include "slimcodec/kernels/squeeze_excite.hpp"
#include "slimcodec/layers/random_init.hpp"
#include "slimcodec/layers/shape.hpp"
#include "slimcodec/layers/tensor_io.hpp"

namespace slimcodec::layers {
namespace detail {

constexpr int max_int(int a, int b) noexcept { return a > b ? a : b; }
constexpr size_t max_size(size_t a, size_t b) noexcept { return a > b ? a : b; }

template <int Cin, int Cout, int K, int S, int SR, bool Skip, bool Transposed>
struct MBConv {
  static_assert(Cin >= 1 && Cout >= 1, "FusedMBConv: channel counts must be positive");
  static_assert(SR >= 1, "FusedMBConv: expansion ratio SR must be at least 1");
  static_assert(K % 2 == 1 && K <= 7, "FusedMBConv: K must be odd (padding K/2) and at most 7");
  static_assert(S == 1 || S == 2, "FusedMBConv: stride must be 1 or 2");
  static_assert(Cin * SR <= 1024, "FusedMBConv: expanded width Cin*SR above 1024");

  static constexpr int kIn = Cin;
  static constexpr int kOut = Cout;
  static constexpr int kExpanded = Cin * SR;                    // Ce
  static constexpr int kSqueezed = max_int(1, Cin / 4);         // Csq
  // Skip is a permission: it applies only where the shapes allow an identity add.
  static constexpr bool kSkip = Skip && !Transposed && S == 1 && Cin == Cout;
  static constexpr size_t kTensors = 10;

  struct Weights {
    float expand_conv_weight[kExpanded * Cin * K * K];  // [Ce,Cin,K,K], or [Cin,Ce,K,K] when transposed
    float expand_norm_weight[kExpanded];
    float expand_norm_bias[kExpanded];
    float se_reduce_weight[kSqueezed * kExpanded];       // [Csq,Ce,1,1]
    float se_reduce_bias[kSqueezed];
    float se_expand_weight[kExpanded * kSqueezed];       // [Ce,Csq,1,1]
    float se_expand_bias[kExpanded];
    float project_conv_weight[Cout * kExpanded];         // [Cout,Ce,1,1]
    float project_norm_weight[Cout];
    float project_norm_bias[Cout];
  };

  static constexpr Shape expanded_shape(Shape in) noexcept {
    if constexpr (Transposed) {
      return {kExpanded, 2 * in.h, 2 * in.w};
    } else {
      return {kExpanded, conv_out(in.h, K, S), conv_out(in.w, K, S)};
    }
  }
  static constexpr Shape out_shape(Shape in) noexcept {
    const Shape e = expanded_shape(in);
    return {Cout, e.h, e.w};
  }
  static constexpr int64_t params() noexcept {
    return int64_t(kExpanded) * Cin * K * K + 2 * kExpanded + (kSqueezed * kExpanded + kSqueezed) +
           (kExpanded * kSqueezed + kExpanded) + int64_t(Cout) * kExpanded + 2 * Cout;
  }
  // Taps of a transposed conv along one axis of n inputs that land inside the 2n outputs.
  static constexpr int64_t transposed_taps(int64_t n) noexcept {
    int64_t t = 0;
    for (int k = 0; k < K; ++k) {
      // output 2i - K/2 + k in [0, 2n)  <=>  i in [ceil((K/2 - k) / 2), floor((2n - 1 + K/2 - k) / 2)]
      for (int64_t i = 0; i < n; ++i) {
        const int64_t o = 2 * i - K / 2 + k;
        t += (o >= 0 && o < 2 * n) ? 1 : 0;
      }
    }
    return t;
  }
  // Expand conv + squeeze-excite FCs + projection (the gate multiply is folded into the projection).
  static constexpr int64_t macs(Shape in) noexcept {
    const Shape e = expanded_shape(in);
    const int64_t expand = Transposed ? int64_t(Cin) * kExpanded * transposed_taps(in.h) * transposed_taps(in.w)
                                      : e.size() * Cin * K * K;
    return expand + 2 * int64_t(kExpanded) * kSqueezed + e.plane() * Cout * kExpanded;
  }
  static constexpr int64_t flops(Shape in) noexcept { return 2 * macs(in); }
  // The expanded map and the output map.
  static constexpr int64_t activations(Shape in) noexcept { return expanded_shape(in).size() + out_shape(in).size(); }

  using ExpandKernel = std::conditional_t<
      Transposed, kernels::convt_kxk_s2_f32<Cin, kExpanded, K>,
      std::conditional_t<K == 1 && S == 1, kernels::conv1x1_f32<Cin, kExpanded>,
                         std::conditional_t<K == 3 && S == 1, kernels::conv3x3_s1_wino4_f32<Cin, kExpanded>,
                                            kernels::conv_kxk_f32<Cin, kExpanded, K, S>>>>;
  using ProjectKernel = kernels::conv1x1_f32<kExpanded, Cout>;

  // Scratch layout (floats): expanded map | sums (double) | scale, shift | pool, gate | folded projection |
  // kernel scratch.
  // Statistics and norm coefficients serve the expand conv (Ce channels), then the projection (Cout).
  static constexpr int kStatChannels = max_int(kExpanded, Cout);
  static constexpr size_t kStatsFloats = align_floats(4 * size_t(kStatChannels));
  static constexpr size_t kCoeffFloats = align_floats(2 * size_t(kStatChannels));
  static constexpr size_t kGateFloats = align_floats(2 * size_t(kExpanded));
  static constexpr size_t kFoldedFloats = align_floats(size_t(Cout) * kExpanded);
  static constexpr size_t kernel_floats(Shape in) noexcept {
    return align_floats(max_size(ExpandKernel::scratch_floats(int(in.w)), ProjectKernel::scratch_floats()));
  }
  static constexpr size_t scratch_floats(Shape in) noexcept {
    return align_floats(size_t(expanded_shape(in).size())) + kStatsFloats + kCoeffFloats + kGateFloats +
           kFoldedFloats + kernel_floats(in);
  }
  static constexpr size_t scratch_bytes(Shape in) noexcept { return scratch_floats(in) * sizeof(float); }

  template <class Arch>
  static void forward(Arch arch, const Weights& w, Shape in, const float* x, float* y, float* scratch) {
    const Shape es = expanded_shape(in);
    const size_t n = size_t(es.plane());
    float* e = scratch;
    float* p = scratch + align_floats(size_t(es.size()));
    double* sum = reinterpret_cast<double*>(p);
    double* sumsq = sum + kStatChannels;
    float* scale = p + kStatsFloats;
    float* shift = scale + kStatChannels;
    float* pool = p + kStatsFloats + kCoeffFloats;
    float* gate = pool + kExpanded;
    float* folded = pool + kGateFloats;
    float* ks = folded + kFoldedFloats;
    const kernels::ChannelStats st{sum, sumsq};

    // 1. expand conv with fused statistics -> 2. norm + SiLU + squeeze, one pass in place.
    if constexpr (Transposed || !(K == 1 && S == 1)) {
      ExpandKernel{}(arch, x, int(in.h), int(in.w), w.expand_conv_weight, e, st, ks);
    } else {
      ExpandKernel{}(arch, x, n, w.expand_conv_weight, e, st, ks);
    }
    kernels::norm_coeffs_f32(sum, sumsq, kExpanded, n, w.expand_norm_weight, w.expand_norm_bias, scale, shift);
    kernels::norm_silu_pool_f32{}(arch, e, kExpanded, n, scale, shift, pool);
    // 3. excite: the gate scales the projection's columns instead of the map.
    kernels::se_gate_f32<kExpanded, kSqueezed>(pool, w.se_reduce_weight, w.se_reduce_bias, w.se_expand_weight,
                                               w.se_expand_bias, gate);
    kernels::fold_gate_f32<Cout, kExpanded>(w.project_conv_weight, gate, folded);
    // 4. projection with fused statistics -> 5. norm (+ skip), in place.
    ProjectKernel{}(arch, e, n, folded, y, st, ks);
    kernels::norm_coeffs_f32(sum, sumsq, Cout, n, w.project_norm_weight, w.project_norm_bias, scale, shift);
    if constexpr (kSkip) {
      kernels::norm_affine_skip_f32{}(arch, y, Cout, n, scale, shift, x);
    } else {
      kernels::norm_affine_f32{}(arch, y, Cout, n, scale, shift, nullptr);
    }
  }

  static void forward_reference(const Weights& w, Shape in, const float* x, float* y) {
    const Shape es = expanded_shape(in);
    const size_t n = size_t(es.plane());
    std::vector<float> e(size_t(es.size()));
    if constexpr (Transposed) {
      kernels::ref::conv_transpose2d(x, Cin, int(in.h), int(in.w), w.expand_conv_weight, kExpanded, K, e.data());
    } else {
      kernels::ref::conv2d(x, Cin, int(in.h), int(in.w), w.expand_conv_weight, kExpanded, K, S, e.data());
    }
    kernels::ref::instance_norm(e.data(), kExpanded, n, w.expand_norm_weight, w.expand_norm_bias);
    kernels::ref::silu_inplace(e.data(), e.size());
    kernels::ref::squeeze_excite(e.data(), kExpanded, n, kSqueezed, w.se_reduce_weight, w.se_reduce_bias,
                                 w.se_expand_weight, w.se_expand_bias);
    kernels::ref::conv2d(e.data(), kExpanded, int(es.h), int(es.w), w.project_conv_weight, Cout, 1, 1, y);
    kernels::ref::instance_norm(y, Cout, n, w.project_norm_weight, w.project_norm_bias);
    if constexpr (kSkip) kernels::ref::axpy(x, 1.f, y, size_t(Cout) * n);
  }

  template <class Source>
  static Result<void> load(Weights* w, const Source& src, TensorName& name) {
    constexpr int64_t Ce = kExpanded, Cq = kSqueezed;
    const bool copy = w != nullptr;
    Result<void> r = Transposed ? bind_tensor(src, name, "expand.conv.weight", {Cin, Ce, K, K},
                                              copy ? w->expand_conv_weight : nullptr)
                                : bind_tensor(src, name, "expand.conv.weight", {Ce, Cin, K, K},
                                              copy ? w->expand_conv_weight : nullptr);
    if (r) r = bind_tensor(src, name, "expand.norm.weight", {Ce}, copy ? w->expand_norm_weight : nullptr);
    if (r) r = bind_tensor(src, name, "expand.norm.bias", {Ce}, copy ? w->expand_norm_bias : nullptr);
    if (r) r = bind_tensor(src, name, "se.reduce.weight", {Cq, Ce, 1, 1}, copy ? w->se_reduce_weight : nullptr);
    if (r) r = bind_tensor(src, name, "se.reduce.bias", {Cq}, copy ? w->se_reduce_bias : nullptr);
    if (r) r = bind_tensor(src, name, "se.expand.weight", {Ce, Cq, 1, 1}, copy ? w->se_expand_weight : nullptr);
    if (r) r = bind_tensor(src, name, "se.expand.bias", {Ce}, copy ? w->se_expand_bias : nullptr);
    if (r) r = bind_tensor(src, name, "project.conv.weight", {Cout, Ce, 1, 1}, copy ? w->project_conv_weight : nullptr);
    if (r) r = bind_tensor(src, name, "project.norm.weight", {Cout}, copy ? w->project_norm_weight : nullptr);
    if (r) r = bind_tensor(src, name, "project.norm.bias", {Cout}, copy ? w->project_norm_bias : nullptr);
    return r;
  }

  static void init_random(Weights& w, SplitMix64& rng) {
    rng.fill_fan_in(w.expand_conv_weight, sizeof(w.expand_conv_weight) / sizeof(float),
                    size_t(Transposed ? kExpanded : Cin) * K * K);
    rng.fill(w.expand_norm_weight, kExpanded, 0.5f, 1.5f);
    rng.fill(w.expand_norm_bias, kExpanded, -0.5f, 0.5f);
    rng.fill_fan_in(w.se_reduce_weight, kSqueezed * kExpanded, kExpanded);
    rng.fill_fan_in(w.se_reduce_bias, kSqueezed, kExpanded);
    rng.fill_fan_in(w.se_expand_weight, kExpanded * kSqueezed, kSqueezed);
    rng.fill_fan_in(w.se_expand_bias, kExpanded, kSqueezed);
    rng.fill_fan_in(w.project_conv_weight, Cout * kExpanded, kExpanded);
    rng.fill(w.project_norm_weight, Cout, 0.5f, 1.5f);
    rng.fill(w.project_norm_bias, Cout, -0.5f, 0.5f);
  }
};

}  // namespace detail

// Fused-MBConv block. Skip = true (the default) means "skip where allowed": it applies only when S == 1 and
// Cin == Cout; Skip = false turns it off (the paper member's last stage).
template <int Cin, int Cout, int K, int S, int SR, bool Skip = true>
struct FusedMBConv : detail::MBConv<Cin, Cout, K, S, SR, Skip, false> {};

// Fused-MBConv with a transposed KxK stride-2 expand conv: output is 2H x 2W; never a skip.
template <int Cin, int Cout, int K, int SR>
struct FusedMBConvT : detail::MBConv<Cin, Cout, K, 2, SR, false, true> {};

}  // namespace slimcodec::layers
