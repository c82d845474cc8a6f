// conv3x3_s1_wino2_f32 / conv3x3_s1_wino4_f32 <Cin, Cout>: 3x3 stride-1 convolution, zero padding 1, no bias,
// CHW float, as a vertical Winograd F(m,3): m output rows from m + 2 transformed input rows, with 3(m+2)/m
// instead of 9 FMAs per input channel and output pixel (6 for m = 2, 4.5 for m = 4). InstanceNorm statistics
// are summed in the epilogue, as in conv_kxk_f32.
#pragma once

#include <algorithm>
#include <cstddef>

#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/kernels/tile.hpp"

namespace slimcodec::kernels {
namespace detail {

// Winograd F(m, 3) matrices (Lavin & Gray): V = BT d (input rows), U = G g (weight rows),
// out = AT (U .* V summed over channels and the 3 horizontal taps).
template <int M>
struct WinogradF3;

template <>
struct WinogradF3<2> {
  static constexpr int kN = 4;
  static constexpr float kBT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr float kG[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
  static constexpr float kAT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct WinogradF3<4> {
  static constexpr int kN = 6;
  static constexpr float kBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float kG[6][3] = {{0.25f, 0, 0},
                                     {-1.f / 6, -1.f / 6, -1.f / 6},
                                     {-1.f / 6, 1.f / 6, -1.f / 6},
                                     {1.f / 24, 1.f / 12, 1.f / 6},
                                     {1.f / 24, -1.f / 12, 1.f / 6},
                                     {0, 0, 1}};
  static constexpr float kAT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// sum_b c[b] * x[b] with the constant coefficients folded: zeros skipped, +-1 as add/sub.
template <int kCount, class V, class Coef>
SLIMCODEC_INLINE V lin_comb(const Coef& c, const V* x) {
  V acc(0.f);
  bool first = true;
  unroll<kCount>([&](auto bc) SLIMCODEC_LAMBDA_INLINE {
    constexpr int b = decltype(bc)::value;
    const float k = c[b];
    if (k == 0.f) return;
    if (first) {
      acc = k == 1.f ? x[b] : k == -1.f ? V(0.f) - x[b] : V(k) * x[b];
      first = false;
    } else if (k == 1.f) {
      acc += x[b];
    } else if (k == -1.f) {
      acc -= x[b];
    } else {
      acc = madd(V(k), x[b], acc);
    }
  });
  return acc;
}

}  // namespace detail

// Along y only (x stays a plain 3-tap correlation on contiguous vectors, so no shuffles). The input transform
// is the panel fill (once per m output rows, shared by all Cout), the output transform is the epilogue; the
// weight transform is redone per call (Cout * Cin * 3 * (m + 2) values).
template <int Cin, int Cout, int M>
struct conv3x3_s1_winograd_f32 {
  static_assert(Cin >= 1 && Cout >= 1, "conv3x3_s1_winograd_f32: channel counts must be positive");
  static_assert(M == 2 || M == 4, "conv3x3_s1_winograd_f32: tile of 2 or 4 output rows");
  using T = detail::WinogradF3<M>;
  static constexpr int kN = T::kN;  // transformed rows per tile

  static constexpr int out_size(int n) noexcept { return n; }

  template <class Arch>
  struct Geometry {
    using V = vec_t<Arch>;
    static constexpr int kLanes = int(lanes<V>());
    // kN accumulator sets per output: kCoB x kNV stays small. Measured on Zen 4 with GCC 12 (F(2,3)): 4 x 1
    // for Cout % 4 == 0 (6 -> 36: 155 effective GFLOP/s; 6 x 1 gives 85), 3 x 2 for Cout % 3 == 0 (6 -> 6:
    // 100; 3 x 1 gives 58). F(4,3) has 6 sets: 4 x 1 or 3 x 1. 16-register arches keep <= 12 accumulators.
    static constexpr bool kWide = live_registers<Arch>() > 16;
    static constexpr int kCoB = !kWide ? (M == 2 && Cout % 2 == 0 ? 2 : 1)
                                       : (Cout % 4 == 0 ? 4 : Cout % 3 == 0 ? 3 : Cout % 2 == 0 ? 2 : 1);
    static constexpr int kNV = kWide && kCoB * kN * 2 <= 24 ? 2 : 1;
    static constexpr int kPanelNV = 6;                    // vectors of output columns per panel
    static constexpr int kChunk = kPanelNV * kLanes;
    static constexpr int kRow = kChunk + 2;               // one transformed row: chunk plus 1-column halos
    static constexpr size_t kPanelFloats = align_floats(size_t(Cin) * kN * kRow);
    static constexpr size_t kWeightFloats = align_floats(size_t(Cout) * Cin * 3 * kN);
    static constexpr size_t kScratchFloats = kPanelFloats + kWeightFloats + detail::row_stats_floats<V>(Cout);
  };

  // Takes the input width like conv_kxk_f32, so layers size any kernel the same way (unused here).
  static constexpr size_t scratch_floats(int = 0) noexcept {
    return align_floats(size_t(Cin) * kN * (6 * kMaxLanes + 2)) + align_floats(size_t(Cout) * Cin * 3 * kN) +
           size_t(Cout) * 2 * kMaxLanes;
  }

  // in: Cin x h x w. weight: [Cout][Cin][3][3]. out: Cout x h x w. st: Cout sums / sums of squares of out.
  template <class Arch>
  void operator()(Arch, const float* in, int h, int w, const float* weight, float* out, ChannelStats st,
                  float* scratch) const;
  void operator()(const float* in, int h, int w, const float* weight, float* out, ChannelStats st,
                  float* scratch) const {
    (*this)(default_arch{}, in, h, w, weight, out, st, scratch);
  }

 private:
  template <class G>
  static void fill_panel(const float* in, int h, int w, int y0, int x0, float* panel);
  template <class G, int kNVt>
  static void tile(const float* panel, const float* ublk, float* out, int w, size_t plane, int valid, int rows,
                   float* rstat);
};

// ------------------------------ fill_panel

// Panel row (ci, a), column i: V_a = sum_b BT[a][b] d_b at input column x0 - 1 + i, d_b = input row y0 - 1 + b.
template <int Cin, int Cout, int M>
template <class G>
void conv3x3_s1_winograd_f32<Cin, Cout, M>::fill_panel(const float* in, int h, int w, int y0, int x0, float* panel) {
  using V = typename G::V;
  constexpr int L = G::kLanes;
  const int base = x0 - 1;
  const int lo = std::min(G::kRow, std::max(0, -base));
  const int hi = std::max(lo, std::min(G::kRow, w - base));
  for (int ci = 0; ci < Cin; ++ci) {
    const float* d[kN];
    for (int b = 0; b < kN; ++b) {
      const int iy = y0 - 1 + b;
      d[b] = (iy >= 0 && iy < h) ? in + (size_t(ci) * h + iy) * w + base : nullptr;
    }
    float* p = panel + ci * kN * G::kRow;
    auto put = [&](int i, auto zero) {
      using W = decltype(zero);
      W x[kN];
      for (int b = 0; b < kN; ++b) x[b] = d[b] ? vload<W>(d[b] + i) : zero;
      unroll<kN>([&](auto ac) SLIMCODEC_LAMBDA_INLINE {
        vstore(p + decltype(ac)::value * G::kRow + i, detail::lin_comb<kN>(T::kBT[decltype(ac)::value], x));
      });
    };
    for (int i = 0; i < lo; ++i) {
      for (int a = 0; a < kN; ++a) p[a * G::kRow + i] = 0.f;
    }
    int i = lo;
    for (; i + L <= hi; i += L) put(i, V(0.f));
    for (; i < hi; ++i) put(i, 0.f);
    for (i = hi; i < G::kRow; ++i) {
      for (int a = 0; a < kN; ++a) p[a * G::kRow + i] = 0.f;
    }
  }
}

// ------------------------------ tile

// rows: output rows of this tile inside the image (m, or fewer at the bottom edge).
template <int Cin, int Cout, int M>
template <class G, int kNVt>
void conv3x3_s1_winograd_f32<Cin, Cout, M>::tile(const float* panel, const float* ublk, float* out, int w,
                                                 size_t plane, int valid, int rows, float* rstat) {
  using V = typename G::V;
  constexpr int L = G::kLanes;
  constexpr int kCoB = G::kCoB;
  constexpr int kU = 3 * kN;  // transformed weights per (co, ci)
  V m[kN][kCoB][kNVt];
  unroll<kN>([&](auto a) SLIMCODEC_LAMBDA_INLINE {
    unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
      unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE { m[a][co][v] = V(0.f); });
    });
  });
  // U layout: [co][ci][a][kx], so one ci step advances both pointers by a constant.
  for (int ci = 0; ci < Cin; ++ci) {
    const float* p = panel + ci * kN * G::kRow;
    const float* u = ublk + ci * kU;
    unroll<kN>([&](auto ac) SLIMCODEC_LAMBDA_INLINE {
      constexpr int a = decltype(ac)::value;
      unroll<3>([&](auto kxc) SLIMCODEC_LAMBDA_INLINE {
        constexpr int kx = decltype(kxc)::value;
        unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE {
          V x = vload<V>(p + a * G::kRow + kx + v * L);
          pin_register(x);
          unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
            m[a][co][v] = madd(V(u[co * Cin * kU + a * 3 + kx]), x, m[a][co][v]);
          });
        });
      });
    });
  }
  // Output transform, stores and statistics; rows past the image bottom are neither stored nor counted.
  unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
    float* o = out + size_t(co) * plane;
    V s(0.f), q(0.f);
    unroll<kNVt>([&](auto vi) SLIMCODEC_LAMBDA_INLINE {
      constexpr int v = decltype(vi)::value;
      const int rem = valid - v * L;
      if (rem <= 0) return;
      V mv[kN];
      unroll<kN>([&](auto a) SLIMCODEC_LAMBDA_INLINE { mv[a] = m[a][co][v]; });
      unroll<M>([&](auto rc) SLIMCODEC_LAMBDA_INLINE {
        constexpr int r = decltype(rc)::value;
        if (r >= rows) return;
        V y = detail::lin_comb<kN>(T::kAT[r], mv);
        if (rem >= L) {
          vstore(o + r * w + v * L, y);
        } else {
          vstore_partial(o + r * w + v * L, y, size_t(rem));
          y = keep_first(y, size_t(rem));
        }
        s += y;
        q = madd(y, y, q);
      });
    });
    float* rs = rstat + co * 2 * L;
    vstore(rs, vload<V>(rs) + s);
    vstore(rs + L, vload<V>(rs + L) + q);
  });
}

// ------------------------------ operator()

template <int Cin, int Cout, int M>
template <class Arch>
void conv3x3_s1_winograd_f32<Cin, Cout, M>::operator()(Arch, const float* in, int h, int w, const float* weight,
                                                       float* out, ChannelStats st, float* scratch) const {
  using G = Geometry<Arch>;
  using V = typename G::V;
  constexpr int L = G::kLanes;
  constexpr int kU = 3 * kN;
  static_assert(G::kScratchFloats <= scratch_floats(), "conv3x3_s1_winograd_f32: scratch sized for a narrower arch");
  const size_t plane = size_t(h) * size_t(w);
  float* panel = scratch;
  float* u = scratch + G::kPanelFloats;
  float* rstat = u + G::kWeightFloats;
  // Weight transform U = G g along ky, per (co, ci, kx).
  for (int co = 0; co < Cout; ++co) {
    for (int ci = 0; ci < Cin; ++ci) {
      const float* g = weight + (size_t(co) * Cin + ci) * 9;
      float* uc = u + (size_t(co) * Cin + ci) * kU;
      for (int a = 0; a < kN; ++a) {
        for (int kx = 0; kx < 3; ++kx) {
          uc[a * 3 + kx] = T::kG[a][0] * g[kx] + T::kG[a][1] * g[3 + kx] + T::kG[a][2] * g[6 + kx];
        }
      }
    }
  }
  detail::zero_stats(rstat, detail::row_stats_floats<V>(Cout), Cout, st);
  int tiles = 0;
  for (int y0 = 0; y0 < h; y0 += M) {
    const int rows = std::min(M, h - y0);
    for (int x0 = 0; x0 < w; x0 += G::kChunk) {
      const int valid = std::min(G::kChunk, w - x0);
      fill_panel<G>(in, h, w, y0, x0, panel);
      float* orow = out + size_t(y0) * w + x0;
      for (int cb = 0; cb < Cout; cb += G::kCoB) {
        const float* ub = u + size_t(cb) * Cin * kU;
        float* ob = orow + cb * plane;
        float* rs = rstat + cb * 2 * L;
        int v0 = 0;
        for (; v0 + G::kNV * L <= valid; v0 += G::kNV * L) {
          tile<G, G::kNV>(panel + v0, ub, ob + v0, w, plane, G::kNV * L, rows, rs);
        }
        if (v0 < valid) {
          const int rem = valid - v0;
          detail::dispatch_nv<G::kNV>((rem + L - 1) / L, [&](auto nvc) {
            tile<G, decltype(nvc)::value>(panel + v0, ub, ob + v0, w, plane, rem, rows, rs);
          });
        }
      }
    }
    if (++tiles % (8 / M) == 0 || y0 + M >= h) detail::flush_stats<V>(rstat, Cout, st);
  }
}

template <int Cin, int Cout>
using conv3x3_s1_wino2_f32 = conv3x3_s1_winograd_f32<Cin, Cout, 2>;
template <int Cin, int Cout>
using conv3x3_s1_wino4_f32 = conv3x3_s1_winograd_f32<Cin, Cout, 4>;

}  // namespace slimcodec::kernels
