// Reference convolutions in plain loops with double accumulation: the oracle for kernels/ and the
// definition of docs/model.md in code. Slow on purpose; sizes are run-time so tests can sweep them.
#pragma once

#include <cstddef>

namespace slimcodec::kernels::ref {

// Output size of a conv with padding k/2: PyTorch's floor((n + 2p - k) / s) + 1.
constexpr int conv_out_size(int n, int k, int s) noexcept { return (n + 2 * (k / 2) - k) / s + 1; }

// Output size of ConvTranspose2d(stride 2, padding k/2, output_padding 1).
constexpr int conv_transpose_out_size(int n, int k) noexcept { return (n - 1) * 2 - 2 * (k / 2) + k + 1; }

// Conv2d(cin, cout, k, stride s, padding k/2, bias=False); weight [cout][cin][k][k]; CHW in and out.
inline void conv2d(const float* in, int cin, int h, int w, const float* weight, int cout, int k, int s,
                   float* out) {
  const int ho = conv_out_size(h, k, s), wo = conv_out_size(w, k, s), p = k / 2;
  for (int co = 0; co < cout; ++co) {
    for (int y = 0; y < ho; ++y) {
      for (int x = 0; x < wo; ++x) {
        double acc = 0.0;
        for (int ci = 0; ci < cin; ++ci) {
          for (int ky = 0; ky < k; ++ky) {
            const int iy = y * s + ky - p;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < k; ++kx) {
              const int ix = x * s + kx - p;
              if (ix < 0 || ix >= w) continue;
              acc += double(weight[((size_t(co) * cin + ci) * k + ky) * k + kx]) *
                     in[(size_t(ci) * h + iy) * w + ix];
            }
          }
        }
        out[(size_t(co) * ho + y) * wo + x] = float(acc);
      }
    }
  }
}

// ConvTranspose2d(cin, cout, k, stride 2, padding k/2, output_padding 1, bias=False); weight [cin][cout][k][k].
inline void conv_transpose2d(const float* in, int cin, int h, int w, const float* weight, int cout, int k,
                             float* out) {
  const int ho = conv_transpose_out_size(h, k), wo = conv_transpose_out_size(w, k), p = k / 2;
  for (int co = 0; co < cout; ++co) {
    for (int y = 0; y < ho; ++y) {
      for (int x = 0; x < wo; ++x) {
        double acc = 0.0;
        for (int ci = 0; ci < cin; ++ci) {
          for (int ky = 0; ky < k; ++ky) {
            const int ty = y + p - ky;  // = 2 * iy
            if (ty < 0 || ty % 2 != 0 || ty / 2 >= h) continue;
            for (int kx = 0; kx < k; ++kx) {
              const int tx = x + p - kx;
              if (tx < 0 || tx % 2 != 0 || tx / 2 >= w) continue;
              acc += double(weight[((size_t(ci) * cout + co) * k + ky) * k + kx]) *
                     in[(size_t(ci) * h + ty / 2) * w + tx / 2];
            }
          }
        }
        out[(size_t(co) * ho + y) * wo + x] = float(acc);
      }
    }
  }
}

}  // namespace slimcodec::kernels::ref
