// Vector vocabulary for the kernels: one set of helpers that works for xsimd::batch<float, Arch> and for plain
// float, so every kernel body is written once (STYLE.md item 3). Also the compile-time unroller the kernels use.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#if !defined(SLIMCODEC_NO_XSIMD)
#include <xsimd/xsimd.hpp>
#endif

// The kernels' unrolled bodies are force-inlined so accumulators stay in registers. Sanitizer builds drop
// that: their speed does not matter, and forced inlining multiplies their compile time (a two-kernel file:
// GCC 12 + ASan 379 s vs 61 s, clang 14 + ASan/UBSan 71 s vs 12 s). ASan is detected; for UBSan-only
// builds define SLIMCODEC_NO_FORCE_INLINE.
#if !defined(SLIMCODEC_NO_FORCE_INLINE)
#if defined(__SANITIZE_ADDRESS__)
#define SLIMCODEC_NO_FORCE_INLINE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLIMCODEC_NO_FORCE_INLINE 1
#endif
#endif
#endif

#if (defined(__GNUC__) || defined(__clang__)) && !defined(SLIMCODEC_NO_FORCE_INLINE)
#define SLIMCODEC_INLINE inline __attribute__((always_inline))
#define SLIMCODEC_LAMBDA_INLINE __attribute__((always_inline))
#else
#define SLIMCODEC_INLINE inline
#define SLIMCODEC_LAMBDA_INLINE
#endif

namespace slimcodec::kernels {

// Arch tag of the plain-float path: the forced-scalar build, and targets where xsimd knows no SIMD arch.
struct scalar_arch {
  static constexpr const char* name() noexcept { return "scalar"; }
};

#if defined(SLIMCODEC_NO_XSIMD)
using default_arch = scalar_arch;
#else
using default_arch = std::conditional_t<std::is_same_v<xsimd::default_arch, xsimd::unavailable>, scalar_arch,
                                        xsimd::default_arch>;
#endif

namespace detail {
template <class Arch>
struct VecOf {
#if !defined(SLIMCODEC_NO_XSIMD)
  using type = xsimd::batch<float, Arch>;
#endif
};
template <>
struct VecOf<scalar_arch> {
  using type = float;
};
}  // namespace detail

// The float vector of an arch: xsimd::batch<float, Arch>, or float for scalar_arch.
template <class Arch>
using vec_t = typename detail::VecOf<Arch>::type;

template <class V>
inline constexpr bool kIsScalar = std::is_same_v<V, float>;

// Lanes per vector (1 for float).
template <class V>
constexpr size_t lanes() noexcept {
  if constexpr (kIsScalar<V>) {
    return 1;
  } else {
    return V::size;
  }
}

// Widest vector any supported arch uses; fixes scratch sizes independently of the build's arch.
inline constexpr size_t kMaxLanes = 16;

// Vector registers a kernel may keep live: 27 of 32 on AVX-512 and AArch64 NEON, 13 of 16 elsewhere.
template <class Arch>
constexpr int live_registers() noexcept {
#if !defined(SLIMCODEC_NO_XSIMD)
  if constexpr (!std::is_same_v<Arch, scalar_arch>) {
#if defined(__aarch64__)
    return 27;
#else
    return sizeof(vec_t<Arch>) == 64 ? 27 : 13;
#endif
  }
#endif
  return 13;
}

// ------------------------------ load / store

template <class V>
SLIMCODEC_INLINE V vload(const float* p) noexcept {
  if constexpr (kIsScalar<V>) {
    return *p;
  } else {
    return V::load_unaligned(p);
  }
}

template <class V>
SLIMCODEC_INLINE void vstore(float* p, const V& v) noexcept {
  if constexpr (kIsScalar<V>) {
    *p = v;
  } else {
    v.store_unaligned(p);
  }
}

// Writes only the first n (< lanes) lanes of v; never writes past p + n.
template <class V>
inline void vstore_partial(float* p, const V& v, size_t n) noexcept {
  alignas(64) float tmp[lanes<V>()];
  vstore<V>(tmp, v);
  std::memcpy(p, tmp, n * sizeof(float));
}

// v with lanes n.. set to zero (n < lanes).
template <class V>
inline V keep_first(const V& v, size_t n) noexcept {
  alignas(64) float tmp[lanes<V>()];
  vstore<V>(tmp, v);
  for (size_t i = n; i < lanes<V>(); ++i) tmp[i] = 0.f;
  return vload<V>(tmp);
}

// Keeps v in a register from here on (an empty asm with a register constraint; no instruction). Used on
// kernel inputs that feed several FMAs: without it GCC 12 re-loads the 64-byte vector as a memory operand of
// every FMA and keeps the 4-byte weights in registers instead, which halves conv throughput on Zen 4.
template <class V>
SLIMCODEC_INLINE void pin_register(V& v) noexcept {
#if !defined(SLIMCODEC_NO_XSIMD) && (defined(__GNUC__) || defined(__clang__))
  if constexpr (!kIsScalar<V>) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+v"(v.data));
#elif defined(__aarch64__) || defined(__arm__)
    __asm__("" : "+w"(v.data));
#endif
  }
#endif
  (void)v;
}

// ------------------------------ arithmetic

// a * b + c, fused where the arch has FMA.
template <class V>
SLIMCODEC_INLINE V madd(const V& a, const V& b, const V& c) noexcept {
#if !defined(SLIMCODEC_NO_XSIMD)
  if constexpr (!kIsScalar<V>) return xsimd::fma(a, b, c);
#endif
  return a * b + c;
}

template <class V>
SLIMCODEC_INLINE float hsum(const V& v) noexcept {
#if !defined(SLIMCODEC_NO_XSIMD)
  if constexpr (!kIsScalar<V>) return xsimd::hadd(v);
#endif
  if constexpr (kIsScalar<V>) return v;
}

// min(max(x, lo), hi) via compare + blend; NaN passes through.
template <class V>
SLIMCODEC_INLINE V vclamp(const V& x, const V& lo, const V& hi) noexcept {
#if !defined(SLIMCODEC_NO_XSIMD)
  if constexpr (!kIsScalar<V>) return xsimd::select(x < lo, lo, xsimd::select(x > hi, hi, x));
#endif
  if constexpr (kIsScalar<V>) return x < lo ? lo : (x > hi ? hi : x);
}

// ------------------------------ unroll

namespace detail {
template <class F, int... I>
SLIMCODEC_INLINE void unroll_impl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
}  // namespace detail

// Calls f(integral_constant<int, 0>) ... f(integral_constant<int, N-1>): loop bodies unrolled by the compiler
// with every index a constant, so accumulator arrays live in registers.
template <int N, class F>
SLIMCODEC_INLINE void unroll(F&& f) {
  detail::unroll_impl(f, std::make_integer_sequence<int, N>{});
}

}  // namespace slimcodec::kernels
