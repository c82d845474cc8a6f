// Shared machinery of the conv kernels: register blocking per arch, the fused store + InstanceNorm-statistics
// epilogue, the run-time -> compile-time tile-width switch, and flushing float lane sums into double totals.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>

#include "slimcodec/common/shape.hpp"
#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"

namespace slimcodec::kernels::detail {

// Register blocking: kCoB output channels x kNV vectors of accumulators (times kSets, e.g. the two column
// phases of a transposed conv). kCoB divides Cout, so there is no channel-remainder code. Live registers are
// the accumulators, kCoB broadcast weights and kNV inputs; keeping them within kRegs (27 of 32 AVX-512/NEON
// registers, 13 of 16 elsewhere) avoids the spills and reloads GCC otherwise emits. Measured on Zen 4 for
// 6 -> 36 channels: 6 x 3 runs at 97 GFLOP/s, 4 x 6 (34 live registers) at 63.
template <int Cout, int kRegs, int kSets = 1>
struct ConvBlocking {
  static constexpr int nv_for(int cob) { return std::min(6, (kRegs - cob) / (kSets * cob + 1)); }
  // One accumulator set: wide blocks (6 x 3 on AVX-512). Several sets: fewer channels, one or two vectors.
  static constexpr int pick_cob() {
    if constexpr (kSets == 1) {
      for (int c : {6, 4, 8, 3, 5, 7, 2}) {
        if (Cout % c == 0 && nv_for(c) >= (kRegs > 16 ? 2 : 1)) return c;
      }
    } else {
      for (int c : {4, 3, 2, 6, 5, 8, 7}) {
        if (Cout % c == 0 && nv_for(c) >= 1) return c;
      }
    }
    return 1;
  }
  static constexpr int kCoB = pick_cob();
  static constexpr int kNV = std::max(1, nv_for(kCoB));
};

// Calls f(integral_constant<int, nv>) for the run-time nv in 1..kMax: one instantiation per tail width.
template <int kMax, class F>
SLIMCODEC_INLINE void dispatch_nv(int nv, F&& f) {
  unroll<kMax>([&](auto i) SLIMCODEC_LAMBDA_INLINE {
    if (nv == decltype(i)::value + 1) f(std::integral_constant<int, decltype(i)::value + 1>{});
  });
}

// Row statistics: per output channel, L lane sums then L lane sums of squares, all float.
template <class V>
constexpr size_t row_stats_floats(int channels) {
  return size_t(channels) * 2 * lanes<V>();
}

// Stores kCoB x kNV accumulators to kCoB planes (first `valid` columns only) and adds their lane sums and
// sums of squares into rstat (masked past `valid`), while the values are still in registers.
template <class V, int kCoB, int kNV>
SLIMCODEC_INLINE void store_with_stats(const V (&acc)[kCoB][kNV], float* out, size_t plane, int valid, float* rstat) {
  constexpr int L = int(lanes<V>());
  unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
    constexpr int c = decltype(co)::value;
    float* o = out + size_t(c) * plane;
    V s(0.f), q(0.f);
    unroll<kNV>([&](auto vi) SLIMCODEC_LAMBDA_INLINE {
      constexpr int v = decltype(vi)::value;
      const int rem = valid - v * L;
      if (rem >= L) {
        vstore(o + v * L, acc[c][v]);
        s += acc[c][v];
        q = madd(acc[c][v], acc[c][v], q);
      } else if (rem > 0) {
        vstore_partial(o + v * L, acc[c][v], size_t(rem));
        const V a = keep_first(acc[c][v], size_t(rem));
        s += a;
        q = madd(a, a, q);
      }
    });
    float* rs = rstat + c * 2 * L;
    vstore(rs, vload<V>(rs) + s);
    vstore(rs + L, vload<V>(rs + L) + q);
  });
}

// Adds the float lane sums into the double totals and zeroes them. Flushing every few rows keeps the float
// partial sums short (accurate) while the double work stays off the hot loop.
template <class V>
inline void flush_stats(float* rstat, int channels, ChannelStats st) {
  constexpr size_t L = lanes<V>();
  for (int c = 0; c < channels; ++c) {
    float* rs = rstat + size_t(c) * 2 * L;
    st.sum[c] += double(hsum(vload<V>(rs)));
    st.sumsq[c] += double(hsum(vload<V>(rs + L)));
    vstore(rs, V(0.f));
    vstore(rs + L, V(0.f));
  }
}

inline void zero_stats(float* rstat, size_t rstat_floats, int channels, ChannelStats st) {
  std::fill(rstat, rstat + rstat_floats, 0.f);
  std::fill(st.sum, st.sum + channels, 0.0);
  std::fill(st.sumsq, st.sumsq + channels, 0.0);
}

// Output rows between flushes of the float row statistics.
inline constexpr int kFlushRows = 4;

}  // namespace slimcodec::kernels::detail
