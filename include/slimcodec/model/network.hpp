// Network<Spec>: a layer spec made runnable. Built once for an input size, it owns the weights and every
// scratch byte (one 64-byte aligned allocation); run() then allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <utility>

#include "slimcodec/common/result.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/layers/ensemble.hpp"
#include "slimcodec/layers/random_init.hpp"
#include "slimcodec/layers/shape.hpp"
#include "slimcodec/layers/tensor_io.hpp"
#include "slimcodec/model/aligned_buffer.hpp"

namespace slimcodec::model {

using layers::Shape;

// Largest accepted input side; keeps every size computation far from int overflow.
inline constexpr int kMaxSide = 8192;

template <class Spec>
class Network {
 public:
  using SpecType = Spec;
  using Weights = typename Spec::Weights;

  // Bytes create(h, w) allocates: weights, then scratch.
  static constexpr size_t memory_bytes(Shape in) noexcept { return weights_bytes() + Spec::scratch_bytes(in); }
  static constexpr size_t weights_bytes() noexcept { return (sizeof(Weights) + 63) & ~size_t(63); }

  // A network for Spec::kIn x h x w inputs. Weights start at zero: load() or init_random() them.
  static Result<Network> create(int h, int w) noexcept {
    if (h < 1 || w < 1 || h > kMaxSide || w > kMaxSide) {
      return Error{Errc::shape_out_of_range, "input height and width must be in 1..8192"};
    }
    const Shape in{Spec::kIn, h, w};
    AlignedBuffer mem(memory_bytes(in));
    if (!mem) return Error{Errc::out_of_memory, "cannot allocate network memory"};
    return Network(std::move(mem), in);
  }

  Network(Network&&) noexcept = default;
  Network& operator=(Network&&) noexcept = default;

  Shape in_shape() const noexcept { return in_; }
  Shape out_shape() const noexcept { return Spec::out_shape(in_); }
  size_t memory_bytes() const noexcept { return mem_.size(); }
  Weights& weights() noexcept { return *weights_ptr(); }
  const Weights& weights() const noexcept { return *weights_ptr(); }

  // Copies every tensor of Spec from src, named prefix + "members.{m}." / "stages.{i}." / ... (a '.' is added
  // after a non-empty prefix that lacks one). All tensors are checked before any weight changes; a missing
  // or misshapen tensor returns the source's error, and more tensors under the prefix than the spec binds
  // return Errc::tensor_unexpected.
  template <class Source>
  Result<void> load(const Source& src, std::string_view prefix) {
    layers::TensorName name;
    if (!prefix.empty()) {
      name.append(prefix);
      if (prefix.back() != '.') name.append(".");
    }
    if (!name.ok()) return Error{Errc::invalid_argument, "tensor prefix longer than 256 bytes"};
    if (src.count_with_prefix(name.view()) > Spec::kTensors) {
      return Error{Errc::tensor_unexpected, "source holds tensors under the prefix that the model does not use"};
    }
    Result<void> r = Spec::load(nullptr, src, name);
    if (!r) return r;
    return Spec::load(weights_ptr(), src, name);
  }

  // Deterministic pseudo-random weights (benchmarks, examples): same seed, same weights, on every platform.
  void init_random(uint64_t seed) noexcept {
    layers::SplitMix64 rng(seed);
    Spec::init_random(weights(), rng);
  }

  // out = Spec(in); in is in_shape(), out is out_shape(), CHW float, not overlapping. No allocation.
  void run(const float* in, float* out) noexcept {
    if constexpr (layers::IsEnsemble<Spec>::value) {
      Spec::forward(kernels::default_arch{}, weights(), in_, in, out, scratch(), active_);
    } else {
      Spec::forward(kernels::default_arch{}, weights(), in_, in, out, scratch());
    }
  }

 protected:
  Network(AlignedBuffer mem, Shape in) noexcept : mem_(std::move(mem)), in_(in) {
    new (mem_.data()) Weights{};
  }
  Weights* weights_ptr() const noexcept { return std::launder(reinterpret_cast<Weights*>(mem_.data())); }
  float* scratch() const noexcept { return reinterpret_cast<float*>(mem_.data() + weights_bytes()); }

  AlignedBuffer mem_;
  Shape in_;
  int active_ = active_default();

 private:
  static constexpr int active_default() noexcept {
    if constexpr (layers::IsEnsemble<Spec>::value) {
      return Spec::kMembers;
    } else {
      return 1;
    }
  }
};

// The server-side decoder network is a plain Network; the alias names its role.
template <class Spec>
using Reconstructor = Network<Spec>;

}  // namespace slimcodec::model
