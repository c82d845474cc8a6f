// Image input for the encoder (docs/model.md, "Image input"): RGB uint8 HWC, possibly strided camera memory,
// resized bilinearly with half-pixel centres straight into the normalized CHW float tensor. No allocation.
#pragma once

#include "slimcodec/common/result.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace slimcodec::io {

inline constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
inline constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};
// Float source coordinates stay exact to well below a pixel up to this size.
inline constexpr size_t kMaxPreprocessDim = 65535;

namespace detail {

// One output coordinate's two source taps and weights, as in PyTorch's
// F.interpolate(mode="bilinear", align_corners=False): src = (dst + 0.5) * in/out - 0.5, clamped at 0; the
// second tap is clamped to the last pixel. Computed in double (once per row or column, so it costs nothing):
// float32 coordinates are off by up to ~5e-5 pixels at 640-pixel widths, which is ~1e-4 after normalisation.
struct LinearTap {
  size_t i0, i1;
  float w0, w1;
};

inline LinearTap linear_tap(size_t dst, size_t in_size, size_t out_size) {
  if (in_size == out_size) return {dst, dst, 1.f, 0.f};
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double src = std::max(scale * (static_cast<double>(dst) + 0.5) - 0.5, 0.0);
  const auto i0 = std::min(static_cast<size_t>(src), in_size - 1);
  const size_t i1 = i0 + (i0 + 1 < in_size ? 1 : 0);
  const double w1 = std::min(std::max(src - static_cast<double>(i0), 0.0), 1.0);
  return {i0, i1, static_cast<float>(1.0 - w1), static_cast<float>(w1)};
}

}  // namespace detail

// Resizes the width x height RGB image at `rgb` (row r starts at rgb + r * row_stride_bytes) to out_h x out_w and
// writes (v/255 - mean[c]) / std[c] as 3 planes of out_h * out_w floats to out_chw.
inline Result<void> preprocess_rgb_u8(const uint8_t* rgb, size_t width, size_t height, size_t row_stride_bytes,
                                      float* out_chw, size_t out_h, size_t out_w) {
  if (rgb == nullptr || out_chw == nullptr) return Error{Errc::invalid_argument, "null image or output"};
  if (width == 0 || height == 0 || out_h == 0 || out_w == 0) return Error{Errc::invalid_argument, "empty image"};
  if (width > kMaxPreprocessDim || height > kMaxPreprocessDim || out_h > kMaxPreprocessDim ||
      out_w > kMaxPreprocessDim)
    return Error{Errc::invalid_argument, "image dimension above kMaxPreprocessDim"};
  if (row_stride_bytes < 3 * width) return Error{Errc::invalid_argument, "row stride shorter than a row"};

  // v/255 then (x - mean) / std folds into one multiply-add per value.
  float scale[3], bias[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.f / (255.f * kImageNetStd[c]);
    bias[c] = -kImageNetMean[c] / kImageNetStd[c];
  }
  const size_t plane = out_h * out_w;
  // Column taps are computed once per tile of columns (on the stack), row taps once per row and tile.
  constexpr size_t kTile = 64;
  detail::LinearTap xt[kTile];
  for (size_t x_begin = 0; x_begin < out_w; x_begin += kTile) {
    const size_t x_end = std::min(out_w, x_begin + kTile);
    for (size_t x = x_begin; x < x_end; ++x) xt[x - x_begin] = detail::linear_tap(x, width, out_w);
    for (size_t y = 0; y < out_h; ++y) {
      const detail::LinearTap yt = detail::linear_tap(y, height, out_h);
      const uint8_t* r0 = rgb + yt.i0 * row_stride_bytes;
      const uint8_t* r1 = rgb + yt.i1 * row_stride_bytes;
      float* out = out_chw + y * out_w;
      for (size_t x = x_begin; x < x_end; ++x) {
        const detail::LinearTap& t = xt[x - x_begin];
        const uint8_t* p00 = r0 + 3 * t.i0;
        const uint8_t* p01 = r0 + 3 * t.i1;
        const uint8_t* p10 = r1 + 3 * t.i0;
        const uint8_t* p11 = r1 + 3 * t.i1;
        for (int c = 0; c < 3; ++c) {
          const float top = t.w0 * float(p00[c]) + t.w1 * float(p01[c]);
          const float bottom = t.w0 * float(p10[c]) + t.w1 * float(p11[c]);
          const float v = yt.w0 * top + yt.w1 * bottom;
          out[size_t(c) * plane + x] = v * scale[c] + bias[c];
        }
      }
    }
  }
  return {};
}

}  // namespace slimcodec::io
