// conv_kxk_f32<Cin, Cout, K, S>: KxK convolution, stride 1 or 2, zero padding K/2, no bias, CHW float, with the
// InstanceNorm statistics of every output channel summed in the epilogue while the outputs are in registers.
// (3x3 stride 1 has a faster kernel, conv3x3_s1_wino2_f32; this one serves stride 2 and other K.)
#pragma once

#include <algorithm>
#include <cstddef>

#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/kernels/tile.hpp"

namespace slimcodec::kernels {

// How it runs: every input row is prepared once, when the sliding window of K rows first reaches it: copied
// with its zero halo and, for stride 2, split into even and odd columns, so a tap kx of output column j reads
// half (kx - kPad) & 1 at index j + floor((kx - kPad) / 2) + kEL, a contiguous vector load. A ring of K
// prepared rows serves each output row; each block of kCoB output channels then keeps kCoB x kNV
// accumulators in registers over all Cin*K*K taps (K*K unrolled, Cin looped).
template <int Cin, int Cout, int K, int S>
struct conv_kxk_f32 {
  static_assert(Cin >= 1 && Cout >= 1, "conv_kxk_f32: channel counts must be positive");
  static_assert(K >= 1 && K % 2 == 1 && K <= 7, "conv_kxk_f32: K must be odd and at most 7");
  static_assert(S == 1 || S == 2, "conv_kxk_f32: stride must be 1 or 2");

  static constexpr int kPad = K / 2;
  static constexpr int out_size(int n) noexcept { return (n + 2 * kPad - K) / S + 1; }
  static constexpr int kEL = S == 1 ? kPad : (kPad + 1) / 2;  // halo of a prepared half, left
  static constexpr int kER = S == 1 ? kPad : kPad / 2;        // and right

  template <class Arch>
  struct Geometry {
    using V = vec_t<Arch>;
    static constexpr int kLanes = int(lanes<V>());
    using Blocking = detail::ConvBlocking<Cout, live_registers<Arch>()>;
    static constexpr int kCoB = Blocking::kCoB;
    static constexpr int kNV = Blocking::kNV;
    static constexpr int kChunk = kNV * kLanes;
  };

  // Floats in one prepared half row: every output column plus halos, rounded up so a full-vector tail
  // never reads past it.
  static constexpr size_t half_floats(int w) noexcept {
    return align_floats(size_t(out_size(w)) + kEL + kER + 6 * kMaxLanes);
  }
  // Scratch for any arch: K ring slots + a zero row, each Cin x S halves, then row statistics.
  static constexpr size_t scratch_floats(int w) noexcept {
    return size_t(K + 1) * Cin * S * half_floats(w) + size_t(Cout) * 2 * kMaxLanes;
  }

  // in: Cin x h x w. weight: [Cout][Cin][K][K]. out: Cout x out_size(h) x out_size(w).
  // st: Cout sums and sums of squares of out (overwritten). scratch: scratch_floats(w) floats.
  template <class Arch>
  void operator()(Arch, const float* in, int h, int w, const float* weight, float* out, ChannelStats st,
                  float* scratch) const;
  void operator()(const float* in, int h, int w, const float* weight, float* out, ChannelStats st,
                  float* scratch) const {
    (*this)(default_arch{}, in, h, w, weight, out, st, scratch);
  }

 private:
  template <class V>
  static void prepare_row(const float* src, int w, int wo, float* dst, size_t half);
  template <class G, int kNVt>
  static void tile(const float* const* rows, size_t half, int x0, const float* wblk, float* out, size_t plane,
                   int valid, float* rstat);
};

// ------------------------------ prepare_row

// dst half q, index i = input column S * (i - kEL) + q (zero outside [0, w)), for i < out_size(w) + kEL + kER.
template <int Cin, int Cout, int K, int S>
template <class V>
void conv_kxk_f32<Cin, Cout, K, S>::prepare_row(const float* src, int w, int wo, float* dst, size_t half) {
  constexpr int L = int(lanes<V>());
  const int n = wo + kEL + kER;
  // Interior: indices whose every half's column lies in [0, w).
  const int lo = std::min(n, kEL);
  const int hi = w < S ? lo : std::max(lo, std::min(n, (w - S) / S + kEL + 1));
  auto edge = [&](int i) {
    for (int q = 0; q < S; ++q) {
      const int c = S * (i - kEL) + q;
      dst[q * half + size_t(i)] = (c >= 0 && c < w) ? src[c] : 0.f;
    }
  };
  for (int i = 0; i < lo; ++i) edge(i);
  if constexpr (S == 1) {
    const float* s = src - kEL;
    int i = lo;
    for (; i + L <= hi; i += L) vstore(dst + i, vload<V>(s + i));
    for (; i < hi; ++i) dst[i] = s[i];
  } else {
    // One interleaved loop the compiler turns into loads + permutes (even and odd columns).
    float* d0 = dst;
    float* d1 = dst + half;
    const float* s = src - 2 * kEL;
    for (int i = lo; i < hi; ++i) {
      d0[i] = s[2 * i];
      d1[i] = s[2 * i + 1];
    }
  }
  for (int i = hi; i < n; ++i) edge(i);
}

// ------------------------------ tile

// rows[ci * K + ky]: prepared row (half 0; half 1 at + half) for tap row ky of this output row.
template <int Cin, int Cout, int K, int S>
template <class G, int kNVt>
void conv_kxk_f32<Cin, Cout, K, S>::tile(const float* const* rows, size_t half, int x0, const float* wblk, float* out,
                                         size_t plane, int valid, float* rstat) {
  using V = typename G::V;
  constexpr int L = G::kLanes;
  constexpr int kCoB = G::kCoB;
  constexpr int kTaps = Cin * K * K;
  V acc[kCoB][kNVt];
  unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
    unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE { acc[co][v] = V(0.f); });
  });
  for (int ci = 0; ci < Cin; ++ci) {
    const float* wci = wblk + ci * K * K;
    unroll<K>([&](auto kyc) SLIMCODEC_LAMBDA_INLINE {
      constexpr int ky = decltype(kyc)::value;
      const float* row = rows[ci * K + ky] + x0;
      unroll<K>([&](auto kxc) SLIMCODEC_LAMBDA_INLINE {
        constexpr int kx = decltype(kxc)::value;
        constexpr int d = kx - kPad;
        constexpr int q = S == 1 ? 0 : (d & 1);
        constexpr int e = (S == 1 ? d : (d - q) / 2) + kEL;
        const float* src = row + (q ? half : 0) + e;
        // One input vector live at a time (pinned in a register), each weight a broadcast operand.
        unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE {
          V x = vload<V>(src + v * L);
          pin_register(x);
          unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
            acc[co][v] = madd(V(wci[co * kTaps + ky * K + kx]), x, acc[co][v]);
          });
        });
      });
    });
  }
  detail::store_with_stats<V, kCoB, kNVt>(acc, out, plane, valid, rstat);
}

// ------------------------------ operator()

template <int Cin, int Cout, int K, int S>
template <class Arch>
void conv_kxk_f32<Cin, Cout, K, S>::operator()(Arch, const float* in, int h, int w, const float* weight, float* out,
                                               ChannelStats st, float* scratch) const {
  using G = Geometry<Arch>;
  using V = typename G::V;
  constexpr int L = G::kLanes;
  constexpr int kTaps = Cin * K * K;
  const int ho = out_size(h), wo = out_size(w);
  const size_t plane = size_t(ho) * size_t(wo);
  const size_t half = half_floats(w);
  const size_t slot = size_t(Cin) * S * half;  // one prepared input row, all channels
  float* ring = scratch;
  float* zero = scratch + K * slot;
  float* rstat = zero + slot;
  std::fill(ring, zero + slot, 0.f);  // also the never-written tails that masked tail lanes read
  detail::zero_stats(rstat, detail::row_stats_floats<V>(Cout), Cout, st);
  int prepared = -kPad - 1;  // highest input row already in the ring
  const float* rows[Cin * K];
  for (int y = 0; y < ho; ++y) {
    const int r0 = S * y - kPad;
    for (int ky = 0; ky < K; ++ky) {
      const int r = r0 + ky;
      float* s = ring + size_t((r + K * (kPad + 1)) % K) * slot;  // r >= -kPad, so the index is non-negative
      if (r < 0 || r >= h) {
        for (int ci = 0; ci < Cin; ++ci) rows[ci * K + ky] = zero + size_t(ci) * S * half;
        continue;
      }
      if (r > prepared) {
        for (int ci = 0; ci < Cin; ++ci) {
          prepare_row<V>(in + (size_t(ci) * h + r) * w, w, wo, s + size_t(ci) * S * half, half);
        }
        prepared = r;
      }
      for (int ci = 0; ci < Cin; ++ci) rows[ci * K + ky] = s + size_t(ci) * S * half;
    }
    float* orow = out + size_t(y) * wo;
    for (int x0 = 0; x0 < wo; x0 += G::kChunk) {
      const int valid = std::min(G::kChunk, wo - x0);
      if (valid == G::kChunk) {
        for (int cb = 0; cb < Cout; cb += G::kCoB) {
          tile<G, G::kNV>(rows, half, x0, weight + cb * kTaps, orow + cb * plane + x0, plane, valid,
                          rstat + cb * 2 * L);
        }
      } else {
        detail::dispatch_nv<G::kNV>((valid + L - 1) / L, [&](auto nvc) {
          for (int cb = 0; cb < Cout; cb += G::kCoB) {
            tile<G, decltype(nvc)::value>(rows, half, x0, weight + cb * kTaps, orow + cb * plane + x0, plane,
                                          valid, rstat + cb * 2 * L);
          }
        });
      }
    }
    if ((y + 1) % detail::kFlushRows == 0 || y + 1 == ho) detail::flush_stats<V>(rstat, Cout, st);
  }
}

}  // namespace slimcodec::kernels
