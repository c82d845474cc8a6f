// Ensemble<Member, N>: N members of one architecture, tensors prefixed "members.{m}."; with active size s,
// output = sum over m < s of 2^-m * member_m(x). s is a run-time argument, so one set of weights serves s=1..N.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "slimcodec/common/result.hpp"
#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/ref/norm_act.hpp"
#include "slimcodec/layers/random_init.hpp"
#include "slimcodec/layers/shape.hpp"
#include "slimcodec/layers/tensor_io.hpp"
#include "slimcodec/quant/bound_rules.hpp"

namespace slimcodec::layers {

template <class Member, int N>
struct Ensemble {
  static_assert(N >= 1 && N <= 16, "Ensemble: 1..16 members (the wire format's limit)");
  using MemberSpec = Member;
  static constexpr int kMembers = N;
  static constexpr int kIn = Member::kIn;
  static constexpr int kOut = Member::kOut;
  static constexpr size_t kTensors = size_t(N) * Member::kTensors;

  using Weights = std::array<typename Member::Weights, N>;

  // w[m] = 2^-m (quant/bound_rules.hpp, which also derives the quantizer bounds from it).
  static constexpr float member_weight(int m) noexcept { return float(quant::ensemble_member_weight(unsigned(m))); }

  static constexpr Shape out_shape(Shape in) noexcept { return Member::out_shape(in); }
  static constexpr int64_t params() noexcept { return N * Member::params(); }
  // Per active size s: s members plus the weighted sum (s - 1 multiply-adds per output value).
  static constexpr int64_t macs(Shape in, int active = N) noexcept {
    return active * Member::macs(in) + (active - 1) * out_shape(in).size();
  }
  static constexpr int64_t flops(Shape in, int active = N) noexcept { return 2 * macs(in, active); }
  static constexpr int64_t activations(Shape in, int active = N) noexcept {
    return active * Member::activations(in) + out_shape(in).size();
  }

  // Scratch: one member's scratch plus a buffer for members after the first.
  static constexpr size_t member_buffer_floats(Shape in) noexcept { return align_floats(size_t(out_shape(in).size())); }
  static constexpr size_t scratch_floats(Shape in) noexcept {
    return member_buffer_floats(in) + Member::scratch_floats(in);
  }
  static constexpr size_t scratch_bytes(Shape in) noexcept { return scratch_floats(in) * sizeof(float); }

  // y = sum over m = first, first + step, ... < active of w[m] * member_m(x); first < active.
  // Lets threads split the members; forward() is first = 0, step = 1.
  template <class Arch>
  static void forward_members(Arch arch, const Weights& w, Shape in, const float* x, float* y, float* scratch,
                              int active, int first, int step) {
    float* tmp = scratch;
    float* ms = scratch + member_buffer_floats(in);
    const size_t n = size_t(out_shape(in).size());
    for (int m = first; m < active; m += step) {
      if (m == first) {
        Member::forward(arch, w[size_t(m)], in, x, y, ms);
        if (m != 0) scale(y, member_weight(m), n);
      } else {
        Member::forward(arch, w[size_t(m)], in, x, tmp, ms);
        kernels::axpy_f32{}(arch, tmp, member_weight(m), y, n);
      }
    }
  }

  template <class Arch>
  static void forward(Arch arch, const Weights& w, Shape in, const float* x, float* y, float* scratch,
                      int active = N) {
    forward_members(arch, w, in, x, y, scratch, active, 0, 1);
  }

  static void forward_reference(const Weights& w, Shape in, const float* x, float* y, int active = N) {
    const size_t n = size_t(out_shape(in).size());
    std::vector<float> tmp(n);
    for (size_t i = 0; i < n; ++i) y[i] = 0.f;
    for (int m = 0; m < active; ++m) {
      Member::forward_reference(w[size_t(m)], in, x, tmp.data());
      kernels::ref::axpy(tmp.data(), member_weight(m), y, n);
    }
  }

  template <class Source>
  static Result<void> load(Weights* w, const Source& src, TensorName& name) {
    for (int m = 0; m < N; ++m) {
      NameScope scope(name);
      name.append("members.");
      name.append_index(m);
      name.append(".");
      Result<void> r = Member::load(w ? &(*w)[size_t(m)] : nullptr, src, name);
      if (!r) return r;
    }
    return {};
  }

  static void init_random(Weights& w, SplitMix64& rng) {
    for (auto& mw : w) Member::init_random(mw, rng);
  }

 private:
  static void scale(float* y, float s, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] *= s;
  }
};

template <class T>
struct IsEnsemble : std::false_type {};
template <class Member, int N>
struct IsEnsemble<Ensemble<Member, N>> : std::true_type {};

}  // namespace slimcodec::layers
