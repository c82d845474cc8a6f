// conv1x1_f32<Cin, Cout>: pointwise convolution (the block's projection) over CHW planes of n pixels, no bias,
// with the InstanceNorm statistics of every output channel summed in the epilogue.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/kernels/tile.hpp"

namespace slimcodec::kernels {

// A plane is one flat run of n pixels, so the kernel walks pixels in chunks of kNV vectors; each block of
// kCoB outputs keeps kCoB x kNV accumulators over all Cin inputs. The last partial chunk is copied into a
// zero-padded panel first, so no load ever reads past a plane.
template <int Cin, int Cout>
struct conv1x1_f32 {
  static_assert(Cin >= 1 && Cout >= 1, "conv1x1_f32: channel counts must be positive");

  template <class Arch>
  struct Geometry {
    using V = vec_t<Arch>;
    static constexpr int kLanes = int(lanes<V>());
    using Blocking = detail::ConvBlocking<Cout, live_registers<Arch>()>;
    static constexpr int kCoB = Blocking::kCoB;
    static constexpr int kNV = Blocking::kNV;
    static constexpr int kChunk = kNV * kLanes;
    static constexpr size_t kPanelFloats = align_floats(size_t(Cin) * kChunk);
    static constexpr size_t kScratchFloats = kPanelFloats + detail::row_stats_floats<V>(Cout);
  };

  // Takes the input width like conv_kxk_f32, so layers size any kernel the same way (unused here).
  static constexpr size_t scratch_floats(int = 0) noexcept {
    return align_floats(size_t(Cin) * 6 * kMaxLanes) + size_t(Cout) * 2 * kMaxLanes;
  }

  // in: Cin planes of n. weight: [Cout][Cin]. out: Cout planes of n. st: Cout sums / sums of squares of out.
  template <class Arch>
  void operator()(Arch, const float* in, size_t n, const float* weight, float* out, ChannelStats st,
                  float* scratch) const;
  void operator()(const float* in, size_t n, const float* weight, float* out, ChannelStats st, float* scratch) const {
    (*this)(default_arch{}, in, n, weight, out, st, scratch);
  }

 private:
  template <class G, int kNVt>
  static void tile(const float* src, size_t src_stride, const float* wblk, float* out, size_t plane, int valid,
                   float* rstat);
};

template <int Cin, int Cout>
template <class G, int kNVt>
void conv1x1_f32<Cin, Cout>::tile(const float* src, size_t src_stride, const float* wblk, float* out, size_t plane,
                                  int valid, float* rstat) {
  using V = typename G::V;
  constexpr int L = G::kLanes;
  constexpr int kCoB = G::kCoB;
  V acc[kCoB][kNVt];
  unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
    unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE { acc[co][v] = V(0.f); });
  });
  for (int ci = 0; ci < Cin; ++ci) {
    const float* s = src + size_t(ci) * src_stride;
    unroll<kNVt>([&](auto v) SLIMCODEC_LAMBDA_INLINE {
      V x = vload<V>(s + v * L);
      pin_register(x);
      unroll<kCoB>([&](auto co) SLIMCODEC_LAMBDA_INLINE {
        acc[co][v] = madd(V(wblk[co * Cin + ci]), x, acc[co][v]);
      });
    });
  }
  detail::store_with_stats<V, kCoB, kNVt>(acc, out, plane, valid, rstat);
}

template <int Cin, int Cout>
template <class Arch>
void conv1x1_f32<Cin, Cout>::operator()(Arch, const float* in, size_t n, const float* weight, float* out,
                                        ChannelStats st, float* scratch) const {
  using G = Geometry<Arch>;
  using V = typename G::V;
  static_assert(G::kScratchFloats <= scratch_floats(), "conv1x1_f32: scratch sized for a narrower arch");
  float* panel = scratch;
  float* rstat = scratch + G::kPanelFloats;
  detail::zero_stats(rstat, detail::row_stats_floats<V>(Cout), Cout, st);
  constexpr int kFlushChunks = 16;
  size_t p = 0;
  int chunks = 0;
  for (; p + G::kChunk <= n; p += G::kChunk) {
    for (int cb = 0; cb < Cout; cb += G::kCoB) {
      tile<G, G::kNV>(in + p, n, weight + cb * Cin, out + cb * n + p, n, G::kChunk, rstat + cb * 2 * G::kLanes);
    }
    if (++chunks % kFlushChunks == 0) detail::flush_stats<V>(rstat, Cout, st);
  }
  if (p < n) {
    const int valid = int(n - p);
    for (int ci = 0; ci < Cin; ++ci) {
      float* d = panel + size_t(ci) * G::kChunk;
      std::memcpy(d, in + size_t(ci) * n + p, size_t(valid) * sizeof(float));
      std::fill(d + valid, d + G::kChunk, 0.f);
    }
    const int nv = (valid + G::kLanes - 1) / G::kLanes;
    detail::dispatch_nv<G::kNV>(nv, [&](auto nvc) {
      for (int cb = 0; cb < Cout; cb += G::kCoB) {
        tile<G, decltype(nvc)::value>(panel, G::kChunk, weight + cb * Cin, out + cb * n + p, n, valid,
                                      rstat + cb * 2 * G::kLanes);
      }
    });
  }
  detail::flush_stats<V>(rstat, Cout, st);
}

}  // namespace slimcodec::kernels
