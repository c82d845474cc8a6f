// Shape of a CHW float tensor (batch 1), usable in constant expressions, plus the conv output-size rules.
#pragma once

#include <cstddef>
#include <cstdint>

namespace slimcodec::layers {

struct Shape {
  int64_t c = 0, h = 0, w = 0;
  constexpr int64_t plane() const noexcept { return h * w; }
  constexpr int64_t size() const noexcept { return c * h * w; }
  friend constexpr bool operator==(const Shape& a, const Shape& b) noexcept {
    return a.c == b.c && a.h == b.h && a.w == b.w;
  }
  friend constexpr bool operator!=(const Shape& a, const Shape& b) noexcept { return !(a == b); }
};

// Conv2d with padding k/2: floor((n + 2 (k/2) - k) / s) + 1.
constexpr int64_t conv_out(int64_t n, int k, int s) noexcept { return (n + 2 * (k / 2) - k) / s + 1; }

// Rounds a float count up to a whole 64-byte line, so every scratch region starts aligned.
constexpr size_t align_floats(size_t n) noexcept { return (n + 15) & ~size_t(15); }

}  // namespace slimcodec::layers
