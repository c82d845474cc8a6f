// Per-channel elementwise passes of the network: InstanceNorm coefficients from fused conv statistics,
// normalize + SiLU (+ squeeze-excite global pool) in place, normalize (+ skip) in place, and axpy.
#pragma once

#include <cmath>
#include <cstddef>

#include "slimcodec/kernels/activation.hpp"
#include "slimcodec/kernels/simd.hpp"

namespace slimcodec::kernels {

// Sums the conv epilogues fill: sum[c] and sum of squares[c] over one output plane, in double.
struct ChannelStats {
  double* sum;
  double* sumsq;
};

inline constexpr float kNormEps = 1e-5f;

// InstanceNorm as y = scale * x + shift: scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
inline void norm_coeffs_f32(const double* sum, const double* sumsq, int c, size_t n, const float* gamma,
                            const float* beta, float* scale, float* shift, float eps = kNormEps) noexcept {
  for (int ch = 0; ch < c; ++ch) {
    const double mean = sum[ch] / double(n);
    double var = sumsq[ch] / double(n) - mean * mean;
    if (!(var > 0.0)) var = 0.0;  // rounding can push a constant plane's variance below zero
    const double s = double(gamma[ch]) / std::sqrt(var + double(eps));
    scale[ch] = float(s);
    shift[ch] = float(double(beta[ch]) - mean * s);
  }
}

// ------------------------------ norm_silu_f32 / norm_silu_pool_f32

// x = silu(scale[c] * x + shift[c]) over c planes of n values, in place; with kPool, also
// pool[c] = mean of the result (the squeeze-excite squeeze), computed while each value is in a register.
namespace detail {
template <bool kPool>
struct norm_silu {
  template <class Arch>
  void operator()(Arch, float* x, int c, size_t n, const float* scale, const float* shift, float* pool) const;
  void operator()(float* x, int c, size_t n, const float* scale, const float* shift, float* pool) const {
    (*this)(default_arch{}, x, c, n, scale, shift, pool);
  }
};
}  // namespace detail
using norm_silu_f32 = detail::norm_silu<false>;
using norm_silu_pool_f32 = detail::norm_silu<true>;

template <bool kPool>
template <class Arch>
void detail::norm_silu<kPool>::operator()(Arch, float* x, int c, size_t n, const float* scale, const float* shift,
                                         float* pool) const {
  using V = vec_t<Arch>;
  constexpr size_t L = lanes<V>();
  for (int ch = 0; ch < c; ++ch) {
    float* p = x + size_t(ch) * n;
    const V a(scale[ch]), b(shift[ch]);
    V acc[4] = {V(0.f), V(0.f), V(0.f), V(0.f)};  // four chains hide the add latency
    const size_t n4 = n - n % (4 * L), nv = n - n % L;
    size_t i = 0;
    for (; i < n4; i += 4 * L) {
      unroll<4>([&](auto u) SLIMCODEC_LAMBDA_INLINE {
        const V y = silu(madd(vload<V>(p + i + u * L), a, b));
        vstore(p + i + u * L, y);
        if constexpr (kPool) acc[u] += y;
      });
    }
    for (; i < nv; i += L) {
      const V y = silu(madd(vload<V>(p + i), a, b));
      vstore(p + i, y);
      if constexpr (kPool) acc[0] += y;
    }
    float tail = 0.f;
    for (; i < n; ++i) {  // V = float runs the tail
      const float y = silu(madd(p[i], scale[ch], shift[ch]));
      p[i] = y;
      if constexpr (kPool) tail += y;
    }
    if constexpr (kPool) {
      pool[ch] = float((double(hsum((acc[0] + acc[1]) + (acc[2] + acc[3]))) + tail) / double(n));
    }
  }
}

// ------------------------------ norm_affine_f32 / norm_affine_skip_f32

// x = scale[c] * x + shift[c] (+ skip) over c planes of n values, in place: the projection's norm and the
// residual add in one pass.
namespace detail {
template <bool kSkip>
struct norm_affine {
  template <class Arch>
  void operator()(Arch, float* x, int c, size_t n, const float* scale, const float* shift, const float* skip) const;
  void operator()(float* x, int c, size_t n, const float* scale, const float* shift, const float* skip) const {
    (*this)(default_arch{}, x, c, n, scale, shift, skip);
  }
};
}  // namespace detail
using norm_affine_f32 = detail::norm_affine<false>;
using norm_affine_skip_f32 = detail::norm_affine<true>;

template <bool kSkip>
template <class Arch>
void detail::norm_affine<kSkip>::operator()(Arch, float* x, int c, size_t n, const float* scale,
                                           const float* shift, const float* skip) const {
  using V = vec_t<Arch>;
  constexpr size_t L = lanes<V>();
  for (int ch = 0; ch < c; ++ch) {
    float* p = x + size_t(ch) * n;
    const float* q = kSkip ? skip + size_t(ch) * n : nullptr;
    const V a(scale[ch]), b(shift[ch]);
    const size_t nv = n - n % L;
    for (size_t i = 0; i < nv; i += L) {
      V y = madd(vload<V>(p + i), a, b);
      if constexpr (kSkip) y += vload<V>(q + i);
      vstore(p + i, y);
    }
    for (size_t i = nv; i < n; ++i) {  // V = float runs the tail
      float y = madd(p[i], scale[ch], shift[ch]);
      if constexpr (kSkip) y += q[i];
      p[i] = y;
    }
  }
}

// ------------------------------ axpy_f32

// y += w * x over n values: how ensemble members after the first add their weighted output.
struct axpy_f32 {
  template <class Arch>
  void operator()(Arch, const float* x, float w, float* y, size_t n) const;
  void operator()(const float* x, float w, float* y, size_t n) const { (*this)(default_arch{}, x, w, y, n); }
};

template <class Arch>
void axpy_f32::operator()(Arch, const float* x, float w, float* y, size_t n) const {
  using V = vec_t<Arch>;
  constexpr size_t L = lanes<V>();
  const V wv(w);
  const size_t nv = n - n % L;
  for (size_t i = 0; i < nv; i += L) vstore(y + i, madd(vload<V>(x + i), wv, vload<V>(y + i)));
  for (size_t i = nv; i < n; ++i) y[i] = madd(x[i], w, y[i]);
}

}  // namespace slimcodec::kernels
