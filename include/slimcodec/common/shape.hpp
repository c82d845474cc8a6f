// The one shape of a CHW float tensor (batch 1) that every room uses: layer specs (constant expressions), the
// encoder's output, frames (wire/ stores each dimension in 16 bits and validates its range) and decoder backends.
#pragma once

#include <cstddef>
#include <cstdint>

namespace slimcodec {

struct Shape {
  int64_t c = 0, h = 0, w = 0;
  constexpr int64_t plane() const noexcept { return h * w; }
  constexpr int64_t size() const noexcept { return c * h * w; }
  friend constexpr bool operator==(const Shape& a, const Shape& b) noexcept {
    return a.c == b.c && a.h == b.h && a.w == b.w;
  }
  friend constexpr bool operator!=(const Shape& a, const Shape& b) noexcept { return !(a == b); }
};

// Rounds a float count up to a whole 64-byte line (16 floats), so every scratch region the layers and kernels carve
// out of one buffer starts aligned.
constexpr size_t align_floats(size_t n) noexcept { return (n + 15) & ~size_t(15); }

}  // namespace slimcodec
