// The conv output-size rules and scratch alignment of the layer specs; the shape itself is common/shape.hpp.
#pragma once

#include <slimcodec/common/shape.hpp>

#include <cstddef>
#include <cstdint>

namespace slimcodec::layers {

using slimcodec::Shape;

// Conv2d with padding k/2: floor((n + 2 (k/2) - k) / s) + 1.
constexpr int64_t conv_out(int64_t n, int k, int s) noexcept { return (n + 2 * (k / 2) - k) / s + 1; }

// Rounds a float count up to a whole 64-byte line, so every scratch region starts aligned.
constexpr size_t align_floats(size_t n) noexcept { return (n + 15) & ~size_t(15); }

}  // namespace slimcodec::layers
