// The conv output-size rules of the layer specs; the shape and the scratch alignment are common/shape.hpp.
#pragma once

#include "slimcodec/common/shape.hpp"

#include <cstddef>
#include <cstdint>

namespace slimcodec::layers {

using slimcodec::Shape;
using slimcodec::align_floats;

// Conv2d with padding k/2: floor((n + 2 (k/2) - k) / s) + 1.
constexpr int64_t conv_out(int64_t n, int k, int s) noexcept { return (n + 2 * (k / 2) - k) / s + 1; }

}  // namespace slimcodec::layers
