// Reference InstanceNorm, SiLU, squeeze-excite and skip in plain loops (double precision): the oracle for the
// fused kernels in kernels/ and the building blocks of layers/reference.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace slimcodec::kernels::ref {

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double silu(double x) { return x * sigmoid(x); }

// InstanceNorm2d(affine, eps, biased variance), in place on c planes of n values; two-pass statistics.
inline void instance_norm(float* x, int c, size_t n, const float* gamma, const float* beta, float eps = 1e-5f) {
  for (int ch = 0; ch < c; ++ch) {
    float* p = x + size_t(ch) * n;
    double mean = 0.0;
    for (size_t i = 0; i < n; ++i) mean += p[i];
    mean /= double(n);
    double var = 0.0;
    for (size_t i = 0; i < n; ++i) var += (p[i] - mean) * (p[i] - mean);
    var /= double(n);
    const double scale = gamma[ch] / std::sqrt(var + eps);
    for (size_t i = 0; i < n; ++i) p[i] = float((p[i] - mean) * scale + beta[ch]);
  }
}

inline void silu_inplace(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = float(silu(x[i]));
}

// Squeeze-excite on ce planes of n values, in place: gate = sigmoid(We silu(Wr mean + br) + be).
// Weights: reduce [csq][ce], reduce_bias [csq], expand [ce][csq], expand_bias [ce].
inline void squeeze_excite(float* x, int ce, size_t n, int csq, const float* reduce_w, const float* reduce_b,
                           const float* expand_w, const float* expand_b) {
  std::vector<double> pooled(static_cast<size_t>(ce)), hidden(static_cast<size_t>(csq));
  for (int c = 0; c < ce; ++c) {
    double s = 0.0;
    for (size_t i = 0; i < n; ++i) s += x[size_t(c) * n + i];
    pooled[c] = s / double(n);
  }
  for (int j = 0; j < csq; ++j) {
    double s = reduce_b[j];
    for (int c = 0; c < ce; ++c) s += double(reduce_w[size_t(j) * ce + c]) * pooled[c];
    hidden[j] = silu(s);
  }
  for (int c = 0; c < ce; ++c) {
    double s = expand_b[c];
    for (int j = 0; j < csq; ++j) s += double(expand_w[size_t(c) * csq + j]) * hidden[j];
    const double g = sigmoid(s);
    for (size_t i = 0; i < n; ++i) x[size_t(c) * n + i] = float(x[size_t(c) * n + i] * g);
  }
}

// y[i] += x[i] * w.
inline void axpy(const float* x, float w, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = float(double(y[i]) + double(w) * x[i]);
}

}  // namespace slimcodec::kernels::ref
