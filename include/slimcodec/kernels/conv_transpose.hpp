// convt_kxk_s2_f32<Cin, Cout, K>: ConvTranspose2d(K, stride 2, padding K/2, output_padding 1, no bias), i.e. 2x
// upsampling, CHW float, with InstanceNorm statistics of every output channel summed in the epilogue.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/kernels/tile.hpp"

namespace slimcodec::kernels {

// Output pixel (2j + py, 2i + px) only receives taps with ky = py + kPad (mod 2) and kx = px + kPad (mod 2),
// from input (j + ey, i + ex), ey = (py + kPad - ky) / 2. So each output row parity is a small stride-1
// correlation of the input: both column parities are accumulated together, then interleaved on store.
template <int Cin, int Cout, int K>
struct convt_kxk_s2_f32 {
  static_assert(Cin >= 1 && Cout >= 1, "convt_kxk_s2_f32: channel counts must be positive");
  static_assert(K >= 1 && K % 2 == 1 && K <= 7, "convt_kxk_s2_f32: K must be odd and at most 7");

  static constexpr int kPad = K / 2;
  static constexpr int out_size(int n) noexcept { return 2 * n; }  // (n-1)*2 - 2*kPad + K + 1

  // Offset range of input rows/columns a tap can read: e = (p + kPad - k) / 2 over parities p and taps k.
  static constexpr int kEMin = -(kPad / 2);
  static constexpr int kEMax = (1 + kPad) / 2;
  static constexpr int kRows = kEMax - kEMin + 1;

  template <class Arch>
  struct Geometry {
    using V = vec_t<Arch>;
    static constexpr int kLanes = int(lanes<V>());
    using Blocking = detail::ConvBlocking<Cout, live_registers<Arch>(), 2>;
    static constexpr int kCoB = Blocking::kCoB;
    static constexpr int kNV = Blocking::kNV;
    static constexpr int kChunk = kNV * kLanes;
    static constexpr int kRow = kChunk + kEMax - kEMin;
    static constexpr size_t kPanelFloats = align_floats(size_t(Cin) * kRows * kRow);
    static constexpr size_t kTmpFloats = align_floats(2 * size_t(kChunk));
    static constexpr size_t kScratchFloats = kPanelFloats + kTmpFloats + detail::row_stats_floats<V>(Cout);
  };

  // Takes the input width like conv_kxk_f32, so layers size any kernel the same way (unused here).
  static constexpr size_t scratch_floats(int = 0) noexcept {
    return align_floats(size_t(Cin) * kRows * (6 * kMaxLanes + K)) + align_floats(12 * kMaxLanes) +
           size_t(Cout) * 2 * kMaxLanes;
  }

  // in: Cin x h x w. weight: [Cin][Cout][K][K] (PyTorch's ConvTranspose2d layout). out: Cout x 2h x 2w.
  template <class Arch>
  void operator()(Arch, const float* in, int h, int w, const float* weight, float* out, ChannelStats st,
                  float* scratch) const;
  void operator()(const float* in, int h, int w, const float* weight, float* out, ChannelStats st,
                  float* scratch) const {
    (*this)(default_arch{}, in, h, w, weight, out, st, scratch);
  }

 private:
  template <class G, int kPy, int kNVt>
  static void tile(const float* panel, const float* weight, int cb, float* out_row, size_t plane, int valid,
                   float* tmp, float* rstat);
};

template <int Cin, int Cout, int K>
template <class G, int kPy, int kNVt>
void convt_kxk_s2_f32<Cin, Cout, K>::tile(const float* panel, const float* weight, int cb, float* out_row,
                                          size_t plane, int valid, float* tmp, float* rstat) {
  using V = typename G::V;
  constexpr int L = G::kLanes;
  constexpr int kCoB = G::kCoB;
  V acc[2][kCoB][kNVt];
  unroll<2>([&](auto px) SLIMCODEC_LAMBDA_INLINE {
    unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
      unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE { acc[px][co][v] = V(0.f); });
    });
  });
  for (int ci = 0; ci < Cin; ++ci) {
    const float* prow = panel + ci * kRows * G::kRow;
    const float* wci = weight + (size_t(ci) * Cout + cb) * K * K;
    unroll<K>([&](auto kyc) SLIMCODEC_LAMBDA_INLINE {
      constexpr int ky = decltype(kyc)::value;
      if constexpr (((kPy + kPad - ky) & 1) == 0) {
        constexpr int ey = (kPy + kPad - ky) / 2;
        unroll<K>([&](auto kxc) SLIMCODEC_LAMBDA_INLINE {
          constexpr int kx = decltype(kxc)::value;
          constexpr int px = (kx - kPad) & 1;
          constexpr int ex = (px + kPad - kx) / 2;
          constexpr int off = (ey - kEMin) * G::kRow + (ex - kEMin);
          unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE {
            V x = vload<V>(prow + off + v * L);
            pin_register(x);
            unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
              acc[px][co][v] = madd(V(wci[co * K * K + ky * K + kx]), x, acc[px][co][v]);
            });
          });
        });
      }
    });
  }
  // Epilogue: both column parities to tmp, statistics from registers, then interleave into the output row.
  unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
    V s(0.f), q(0.f);
    unroll<2>([&](auto px) SLIMCODEC_LAMBDA_INLINE {
      unroll<kNVt>([&](auto vi) SLIMCODEC_LAMBDA_INLINE {
        constexpr int v = decltype(vi)::value;
        const int rem = valid - v * L;
        V a = acc[px][co][v];
        if (rem < L) a = rem > 0 ? keep_first(a, size_t(rem)) : V(0.f);
        vstore(tmp + px * G::kChunk + v * L, a);
        s += a;
        q = madd(a, a, q);
      });
    });
    float* rs = rstat + co * 2 * L;
    vstore(rs, vload<V>(rs) + s);
    vstore(rs + L, vload<V>(rs + L) + q);
    float* o = out_row + size_t(co) * plane;
    const float* t0 = tmp;
    const float* t1 = tmp + G::kChunk;
    for (int i = 0; i < valid; ++i) {
      o[2 * i] = t0[i];
      o[2 * i + 1] = t1[i];
    }
  });
}

template <int Cin, int Cout, int K>
template <class Arch>
void convt_kxk_s2_f32<Cin, Cout, K>::operator()(Arch, const float* in, int h, int w, const float* weight, float* out,
                                                ChannelStats st, float* scratch) const {
  using G = Geometry<Arch>;
  using V = typename G::V;
  static_assert(G::kScratchFloats <= scratch_floats(), "convt_kxk_s2_f32: scratch sized for a narrower arch");
  const int ho = out_size(h), wo = out_size(w);
  const size_t plane = size_t(ho) * size_t(wo);
  float* panel = scratch;
  float* tmp = scratch + G::kPanelFloats;
  float* rstat = tmp + G::kTmpFloats;
  detail::zero_stats(rstat, detail::row_stats_floats<V>(Cout), Cout, st);
  for (int j = 0; j < h; ++j) {
    for (int x0 = 0; x0 < w; x0 += G::kChunk) {
      const int valid = std::min(G::kChunk, w - x0);
      // Panel row r holds input row j + kEMin + r, columns x0 + kEMin .. x0 + kChunk + kEMax - 1.
      for (int ci = 0; ci < Cin; ++ci) {
        for (int r = 0; r < kRows; ++r) {
          float* dst = panel + (ci * kRows + r) * G::kRow;
          const int iy = j + kEMin + r;
          if (iy < 0 || iy >= h) {
            std::fill(dst, dst + G::kRow, 0.f);
            continue;
          }
          const float* src = in + (size_t(ci) * h + iy) * w;
          const int c0 = x0 + kEMin;
          const int lo = std::min(G::kRow, std::max(0, -c0));
          const int hi = std::max(lo, std::min(G::kRow, w - c0));
          std::fill(dst, dst + lo, 0.f);
          if (hi > lo) std::memcpy(dst + lo, src + c0 + lo, size_t(hi - lo) * sizeof(float));
          std::fill(dst + hi, dst + G::kRow, 0.f);
        }
      }
      const int nv = (valid + G::kLanes - 1) / G::kLanes;
      detail::dispatch_nv<G::kNV>(nv, [&](auto nvc) {
        constexpr int kNVt = decltype(nvc)::value;
        for (int cb = 0; cb < Cout; cb += G::kCoB) {
          float* o = out + cb * plane + size_t(2 * j) * wo + 2 * x0;
          float* rs = rstat + cb * 2 * G::kLanes;
          tile<G, 0, kNVt>(panel, weight, cb, o, plane, valid, tmp, rs);
          tile<G, 1, kNVt>(panel, weight, cb, o + wo, plane, valid, tmp, rs);
        }
      });
    }
    if ((j + 1) % detail::kFlushRows == 0 || j + 1 == h) detail::flush_stats<V>(rstat, Cout, st);
  }
}

}  // namespace slimcodec::kernels
