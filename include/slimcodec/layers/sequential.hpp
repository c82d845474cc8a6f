// Sequential<L...>: layers run in order, tensors prefixed "stages.{i}.". A chain whose channels do not match
// fails to compile, naming the stage: "StageChannels<kStage, kPrevOut, kIn>" in the error shows which one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "slimcodec/common/result.hpp"
#include "slimcodec/layers/random_init.hpp"
#include "slimcodec/layers/shape.hpp"
#include "slimcodec/layers/tensor_io.hpp"

namespace slimcodec::layers {
namespace detail {

// Instantiated once per adjacent pair; the template arguments in the compiler's "required from" line name the
// stage and both channel counts.
template <int kStage, int kPrevOut, int kIn>
struct StageChannels {
  static_assert(kPrevOut == kIn,
                "Sequential: channel mismatch at stage kStage: the previous stage outputs kPrevOut channels "
                "but this stage takes kIn (values in StageChannels<kStage, kPrevOut, kIn> above)");
  static constexpr bool value = kPrevOut == kIn;
};

template <class Tuple, size_t... I>
constexpr bool check_chain(std::index_sequence<I...>) {
  return (StageChannels<int(I) + 1, std::tuple_element_t<I, Tuple>::kOut,
                        std::tuple_element_t<I + 1, Tuple>::kIn>::value &&
          ... && true);
}

}  // namespace detail

template <class... L>
struct Sequential {
  static_assert(sizeof...(L) >= 1, "Sequential: needs at least one stage");
  using Stages = std::tuple<L...>;
  static constexpr size_t kStages = sizeof...(L);
  template <size_t I>
  using Stage = std::tuple_element_t<I, Stages>;

  static_assert(detail::check_chain<Stages>(std::make_index_sequence<kStages - 1>{}),
                "Sequential: stage channels do not chain");

  static constexpr int kIn = Stage<0>::kIn;
  static constexpr int kOut = Stage<kStages - 1>::kOut;
  static constexpr size_t kTensors = (L::kTensors + ...);

  using Weights = std::tuple<typename L::Weights...>;

  // Input shape of stage I.
  template <size_t I>
  static constexpr Shape stage_in_shape(Shape in) noexcept {
    if constexpr (I == 0) {
      return in;
    } else {
      return Stage<I - 1>::out_shape(stage_in_shape<I - 1>(in));
    }
  }
  static constexpr Shape out_shape(Shape in) noexcept { return Stage<kStages - 1>::out_shape(stage_in_shape<kStages - 1>(in)); }
  static constexpr int64_t params() noexcept { return (L::params() + ...); }
  static constexpr int64_t macs(Shape in) noexcept { return sum_over([](auto s, Shape i) { return decltype(s)::type::macs(i); }, in); }
  static constexpr int64_t flops(Shape in) noexcept { return 2 * macs(in); }
  static constexpr int64_t activations(Shape in) noexcept {
    return sum_over([](auto s, Shape i) { return decltype(s)::type::activations(i); }, in);
  }

  // Scratch: two ping-pong buffers for the maps between stages, then the largest stage scratch.
  static constexpr size_t buffer_floats(Shape in) noexcept {
    return max_over<kStages - 1>([](auto s, Shape i) { return align_floats(size_t(decltype(s)::type::out_shape(i).size())); }, in);
  }
  static constexpr size_t scratch_floats(Shape in) noexcept {
    return 2 * buffer_floats(in) +
           max_over<kStages>([](auto s, Shape i) { return decltype(s)::type::scratch_floats(i); }, in);
  }
  static constexpr size_t scratch_bytes(Shape in) noexcept { return scratch_floats(in) * sizeof(float); }

  template <class Arch>
  static void forward(Arch arch, const Weights& w, Shape in, const float* x, float* y, float* scratch) {
    const size_t buf = buffer_floats(in);
    float* bufs[2] = {scratch, scratch + buf};
    float* stage_scratch = scratch + 2 * buf;
    forward_from<0>(arch, w, in, x, y, bufs, stage_scratch);
  }

  static void forward_reference(const Weights& w, Shape in, const float* x, float* y) {
    std::vector<float> cur(x, x + in.size()), next;
    reference_from<0>(w, in, cur, next, y);
  }

  template <class Source>
  static Result<void> load(Weights* w, const Source& src, TensorName& name) {
    return load_from<0>(w, src, name);
  }

  static void init_random(Weights& w, SplitMix64& rng) {
    std::apply([&](auto&... ws) { (L::init_random(ws, rng), ...); }, w);
  }

 private:
  template <class T>
  struct Tag {
    using type = T;
  };

  template <class F, size_t... I>
  static constexpr int64_t sum_impl(F f, Shape in, std::index_sequence<I...>) {
    return (f(Tag<Stage<I>>{}, stage_in_shape<I>(in)) + ... + 0);
  }
  template <class F>
  static constexpr int64_t sum_over(F f, Shape in) {
    return sum_impl(f, in, std::make_index_sequence<kStages>{});
  }
  template <class F, size_t... I>
  static constexpr size_t max_impl(F f, Shape in, std::index_sequence<I...>) {
    size_t m = 0;
    ((m = f(Tag<Stage<I>>{}, stage_in_shape<I>(in)) > m ? f(Tag<Stage<I>>{}, stage_in_shape<I>(in)) : m), ...);
    return m;
  }
  template <size_t N, class F>
  static constexpr size_t max_over(F f, Shape in) {
    return max_impl(f, in, std::make_index_sequence<N>{});
  }

  template <size_t I, class Arch>
  static void forward_from(Arch arch, const Weights& w, Shape in, const float* x, float* y, float* const* bufs,
                           float* stage_scratch) {
    const Shape si = stage_in_shape<I>(in);
    if constexpr (I + 1 == kStages) {
      Stage<I>::forward(arch, std::get<I>(w), si, x, y, stage_scratch);
    } else {
      float* out = bufs[I % 2];
      Stage<I>::forward(arch, std::get<I>(w), si, x, out, stage_scratch);
      forward_from<I + 1>(arch, w, in, out, y, bufs, stage_scratch);
    }
  }

  template <size_t I>
  static void reference_from(const Weights& w, Shape in, std::vector<float>& cur, std::vector<float>& next, float* y) {
    const Shape si = stage_in_shape<I>(in);
    if constexpr (I + 1 == kStages) {
      Stage<I>::forward_reference(std::get<I>(w), si, cur.data(), y);
    } else {
      next.assign(size_t(Stage<I>::out_shape(si).size()), 0.f);
      Stage<I>::forward_reference(std::get<I>(w), si, cur.data(), next.data());
      cur.swap(next);
      reference_from<I + 1>(w, in, cur, next, y);
    }
  }

  template <size_t I, class Source>
  static Result<void> load_from(Weights* w, const Source& src, TensorName& name) {
    if constexpr (I == kStages) {
      return {};
    } else {
      {
        NameScope scope(name);
        name.append("stages.");
        name.append_index(int64_t(I));
        name.append(".");
        Result<void> r = Stage<I>::load(w ? &std::get<I>(*w) : nullptr, src, name);
        if (!r) return r;
      }
      return load_from<I + 1>(w, src, name);
    }
  }
};

}  // namespace slimcodec::layers
