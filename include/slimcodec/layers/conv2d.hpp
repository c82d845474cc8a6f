// Conv2D<Cin, Cout, K, S>: Conv2d(K, stride S, padding K/2, no bias) -> InstanceNorm(affine) -> SiLU, the
// encoder's stem (docs/model.md). Tensors: conv.weight [Cout,Cin,K,K], norm.weight [Cout], norm.bias [Cout].
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "slimcodec/common/result.hpp"
#include "slimcodec/kernels/conv3x3_winograd.hpp"
#include "slimcodec/kernels/conv_kxk.hpp"
#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/ref/conv.hpp"
#include "slimcodec/kernels/ref/norm_act.hpp"
#include "slimcodec/layers/random_init.hpp"
#include "slimcodec/layers/shape.hpp"
#include "slimcodec/layers/tensor_io.hpp"

namespace slimcodec::layers {

template <int Cin, int Cout, int K, int S>
struct Conv2D {
  static_assert(Cin >= 1 && Cout >= 1, "Conv2D: channel counts must be positive");
  static_assert(K % 2 == 1 && K <= 7, "Conv2D: K must be odd (padding K/2) and at most 7");
  static_assert(S == 1 || S == 2, "Conv2D: stride must be 1 or 2");

  static constexpr int kIn = Cin;
  static constexpr int kOut = Cout;
  static constexpr size_t kTensors = 3;

  struct Weights {
    float conv_weight[Cout * Cin * K * K];
    float norm_weight[Cout];
    float norm_bias[Cout];
  };

  static constexpr Shape out_shape(Shape in) noexcept { return {Cout, conv_out(in.h, K, S), conv_out(in.w, K, S)}; }
  static constexpr int64_t params() noexcept { return int64_t(Cout) * Cin * K * K + 2 * Cout; }
  static constexpr int64_t macs(Shape in) noexcept { return out_shape(in).size() * Cin * K * K; }
  // Multiply-adds count two; the norm and activation are not counted.
  static constexpr int64_t flops(Shape in) noexcept { return 2 * macs(in); }
  // Values of every feature map the layer produces (its output).
  static constexpr int64_t activations(Shape in) noexcept { return out_shape(in).size(); }

  // 3x3 stride 1 runs as vertical Winograd F(4,3); everything else as direct convolution.
  using Kernel = std::conditional_t<K == 3 && S == 1, kernels::conv3x3_s1_wino4_f32<Cin, Cout>,
                                    kernels::conv_kxk_f32<Cin, Cout, K, S>>;
  static constexpr size_t kStatsFloats = align_floats(4 * size_t(Cout));   // sum, sumsq (double)
  static constexpr size_t kCoeffFloats = align_floats(2 * size_t(Cout));   // scale, shift
  static constexpr size_t scratch_floats(Shape in) noexcept {
    return kStatsFloats + kCoeffFloats + align_floats(Kernel::scratch_floats(int(in.w)));
  }
  static constexpr size_t scratch_bytes(Shape in) noexcept { return scratch_floats(in) * sizeof(float); }

  // Fast path: scratch is scratch_floats(in) floats, 64-byte aligned; y must not alias x.
  template <class Arch>
  static void forward(Arch arch, const Weights& w, Shape in, const float* x, float* y, float* scratch) {
    const Shape o = out_shape(in);
    const size_t n = size_t(o.plane());
    double* sum = reinterpret_cast<double*>(scratch);
    double* sumsq = sum + Cout;
    float* scale = scratch + kStatsFloats;
    float* shift = scale + Cout;
    float* ks = scratch + kStatsFloats + kCoeffFloats;
    Kernel{}(arch, x, int(in.h), int(in.w), w.conv_weight, y, kernels::ChannelStats{sum, sumsq}, ks);
    kernels::norm_coeffs_f32(sum, sumsq, Cout, n, w.norm_weight, w.norm_bias, scale, shift);
    kernels::norm_silu_f32{}(arch, y, Cout, n, scale, shift, nullptr);
  }

  // The same layer as plain loops (kernels/ref): the test oracle.
  static void forward_reference(const Weights& w, Shape in, const float* x, float* y) {
    const Shape o = out_shape(in);
    kernels::ref::conv2d(x, Cin, int(in.h), int(in.w), w.conv_weight, Cout, K, S, y);
    kernels::ref::instance_norm(y, Cout, size_t(o.plane()), w.norm_weight, w.norm_bias);
    kernels::ref::silu_inplace(y, size_t(o.size()));
  }

  // Binds conv.weight, norm.weight, norm.bias under `name`; w == nullptr only validates.
  template <class Source>
  static Result<void> load(Weights* w, const Source& src, TensorName& name) {
    Result<void> r = bind_tensor(src, name, "conv.weight", {Cout, Cin, K, K}, w ? w->conv_weight : nullptr);
    if (r) r = bind_tensor(src, name, "norm.weight", {Cout}, w ? w->norm_weight : nullptr);
    if (r) r = bind_tensor(src, name, "norm.bias", {Cout}, w ? w->norm_bias : nullptr);
    return r;
  }

  static void init_random(Weights& w, SplitMix64& rng) {
    rng.fill_fan_in(w.conv_weight, sizeof(w.conv_weight) / sizeof(float), size_t(Cin) * K * K);
    rng.fill(w.norm_weight, Cout, 0.5f, 1.5f);
    rng.fill(w.norm_bias, Cout, -0.5f, 0.5f);
  }
};

}  // namespace slimcodec::layers
