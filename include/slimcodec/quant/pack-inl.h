// Highway kernels that fuse quantize + bit-pack and unpack + dequantize per 128-value group, plus the
// buffer-level entry points. The layout is the one in layout.hpp: lane l of byte vector k is byte k of the
// word W_l = sum_j q[16j + l] << (j*b), so every target writes the same bytes.
// Per-target include guard: compiled once for the static target, or once per target via foreach_target.h.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/checks.hpp"
#include "slimcodec/quant/layout.hpp"
#include "slimcodec/quant/params.hpp"
#include "slimcodec/quant/ref.hpp"

#if defined(SLIMCODEC_QUANT_PACK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SLIMCODEC_QUANT_PACK_INL_H_
#undef SLIMCODEC_QUANT_PACK_INL_H_
#else
#define SLIMCODEC_QUANT_PACK_INL_H_
#endif

#include "slimcodec/quant/hwy_targets.hpp"  // before Highway: AVX3_DL fix
#include <hwy/highway.h>

#include "slimcodec/quant/quantize-inl.h"

HWY_BEFORE_NAMESPACE();
namespace slimcodec::quant::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------ byte shifts of codes

// v << kShift in each u8 lane, for lanes holding codes below 2^kBits.
template <int kShift, unsigned kBits, class D8>
HWY_INLINE hn::Vec<D8> shift_left_codes(D8 d8, hn::Vec<D8> v) {
  if constexpr (kShift == 0) {
    return v;
  } else if constexpr (kShift + kBits <= 8 && hn::MaxLanes(D8()) >= 2) {
    // No bit leaves its byte, so a 16-bit shift needs no mask (x86 has no 8-bit shifts).
    const hn::Repartition<uint16_t, D8> d16;
    return hn::BitCast(d8, hn::ShiftLeft<kShift>(hn::BitCast(d16, v)));
  } else {
    return hn::ShiftLeft<kShift>(v);  // drops the bits that move past bit 7
  }
}

// (v >> kShift) & (2^kBits - 1) in each u8 lane, for kShift + kBits <= 8.
template <unsigned kShift, unsigned kBits, class D8>
HWY_INLINE hn::Vec<D8> extract_bits(D8 d8, hn::Vec<D8> v) {
  static_assert(kShift + kBits <= 8, "field must lie within one byte");
  const auto mask = hn::Set(d8, static_cast<uint8_t>((1u << kBits) - 1u));
  if constexpr (kShift == 0) {
    return kBits == 8 ? v : hn::And(v, mask);
  } else if constexpr (hn::MaxLanes(D8()) >= 2) {
    // A 16-bit shift pulls the neighbour byte's low bits into bits >= 8 - kShift >= kBits; the mask drops them.
    const hn::Repartition<uint16_t, D8> d16;
    return hn::And(hn::BitCast(d8, hn::ShiftRight<kShift>(hn::BitCast(d16, v))), mask);
  } else {
    return hn::And(hn::ShiftRight<kShift>(v), mask);
  }
}

// ------------------------------ pack_rows

// Row kRow's share of packed byte kByte: its bits [kRow*b, kRow*b + b) meet [8*kByte, 8*kByte + 8).
template <unsigned kBits, unsigned kByte, unsigned kRow, class D8>
HWY_INLINE hn::Vec<D8> row_part(D8 d8, const uint8_t* HWY_RESTRICT codes) {
  constexpr int kPos = static_cast<int>(kRow * kBits) - static_cast<int>(8 * kByte);
  const auto row = hn::LoadU(d8, codes + kRow * kGroupLanes);
  if constexpr (kPos >= 0) {
    return shift_left_codes<kPos, kBits>(d8, row);
  } else {
    return hn::ShiftRight<-kPos>(row);  // upper bits of a row that began in the previous byte
  }
}

// Packed byte kByte of every lane: OR of the parts of rows kRow, kRow + 1, ... that reach into it.
template <unsigned kBits, unsigned kByte, unsigned kRow, class D8>
HWY_INLINE hn::Vec<D8> pack_byte(D8 d8, const uint8_t* HWY_RESTRICT codes) {
  const auto part = row_part<kBits, kByte, kRow>(d8, codes);
  constexpr unsigned kNext = kRow + 1;
  if constexpr (kNext < kGroupRows && kNext * kBits < 8 * (kByte + 1)) {
    return hn::Or(part, pack_byte<kBits, kByte, kNext>(d8, codes));
  } else {
    return part;
  }
}

// Packs Lanes(d8) lanes of the 8 code rows (row stride 16 bytes) into kBits byte vectors (stride 16 bytes).
template <unsigned kBits, unsigned kByte = 0, class D8>
HWY_INLINE void pack_rows(D8 d8, const uint8_t* HWY_RESTRICT codes, uint8_t* HWY_RESTRICT out) {
  constexpr unsigned kFirstRow = 8 * kByte / kBits;  // the row holding bit 8*kByte
  hn::StoreU(pack_byte<kBits, kByte, kFirstRow>(d8, codes), d8, out + kByte * kGroupLanes);
  if constexpr (kByte + 1 < kBits) pack_rows<kBits, kByte + 1>(d8, codes, out);
}

// ------------------------------ unpack_row

// Code row kRow (Lanes(d8) lanes) from packed byte vectors at stride 16.
template <unsigned kBits, unsigned kRow, class D8>
HWY_INLINE hn::Vec<D8> unpack_row(D8 d8, const uint8_t* HWY_RESTRICT in) {
  constexpr unsigned kByte = kRow * kBits / 8;
  constexpr unsigned kShift = kRow * kBits % 8;
  const auto lo = hn::LoadU(d8, in + kByte * kGroupLanes);
  if constexpr (kShift + kBits <= 8) {
    return extract_bits<kShift, kBits>(d8, lo);
  } else {
    // The row straddles two bytes: low 8 - kShift bits from this one, the rest from the next.
    const auto hi = hn::LoadU(d8, in + (kByte + 1) * kGroupLanes);
    const auto mask = hn::Set(d8, static_cast<uint8_t>((1u << kBits) - 1u));
    return hn::And(hn::Or(hn::ShiftRight<kShift>(lo), hn::ShiftLeft<8 - kShift>(hi)), mask);
  }
}

// ------------------------------ group kernels

// Quantizes 128 floats and packs them into 16 * kBits bytes.
template <unsigned kBits, class D8>
HWY_INLINE void quantize_pack_group(D8 d8, const QuantParams& p, const float* HWY_RESTRICT x,
                                    uint8_t* HWY_RESTRICT out) {
  alignas(16) uint8_t codes[kGroupValues];  // row j at codes + 16 * j; compilers keep it in registers
  const size_t lanes = hn::Lanes(d8);
  for (size_t i = 0; i < kGroupValues; i += lanes) hn::StoreU(quantize_row_u8(d8, p, x + i), d8, codes + i);
  for (size_t l = 0; l < kGroupLanes; l += lanes) pack_rows<kBits>(d8, codes + l, out + l);
}

template <unsigned kBits, unsigned kRow = 0, class D8>
HWY_INLINE void unpack_dequantize_rows(D8 d8, const QuantParams& p, const uint8_t* HWY_RESTRICT in,
                                       float* HWY_RESTRICT out) {
  dequantize_row_u8(d8, p, unpack_row<kBits, kRow>(d8, in), out + kRow * kGroupLanes);
  if constexpr (kRow + 1 < kGroupRows) unpack_dequantize_rows<kBits, kRow + 1>(d8, p, in, out);
}

// Unpacks 16 * kBits bytes and writes all 128 dequantized values.
template <unsigned kBits, class D8>
HWY_INLINE void unpack_dequantize_group(D8 d8, const QuantParams& p, const uint8_t* HWY_RESTRICT in,
                                        float* HWY_RESTRICT out) {
  for (size_t l = 0; l < kGroupLanes; l += hn::Lanes(d8)) unpack_dequantize_rows<kBits>(d8, p, in + l, out + l);
}

// ------------------------------ buffer loops

// Buffer loops are function objects so one visit_bits serves both directions.
struct QuantizePackOp {
  const float* x;
  size_t n;
  QuantParams params;
  uint8_t* out;

  template <unsigned kBits>
  HWY_INLINE void run() const {
    const hn::CappedTag<uint8_t, kGroupLanes> d8;
    const QuantParams p = params;  // a local copy: byte stores through out cannot alias it
    const size_t full = n / kGroupValues;
    for (size_t g = 0; g < full; ++g) {
      quantize_pack_group<kBits>(d8, p, x + g * kGroupValues, out + g * group_bytes(kBits));
    }
    if (const size_t rest = n % kGroupValues) {
      // Pad the last group with lo, which quantizes to code 0, without reading past x.
      float tail[kGroupValues];
      std::memcpy(tail, x + full * kGroupValues, rest * sizeof(float));
      for (size_t i = rest; i < kGroupValues; ++i) tail[i] = p.lo;
      quantize_pack_group<kBits>(d8, p, tail, out + full * group_bytes(kBits));
    }
  }
};

struct UnpackDequantizeOp {
  const uint8_t* in;
  size_t n;
  QuantParams params;
  float* out;

  template <unsigned kBits>
  HWY_INLINE void run() const {
    const hn::CappedTag<uint8_t, kGroupLanes> d8;
    const QuantParams p = params;  // a local copy: stores through out cannot alias it
    const size_t full = n / kGroupValues;
    for (size_t g = 0; g < full; ++g) {
      unpack_dequantize_group<kBits>(d8, p, in + g * group_bytes(kBits), out + g * kGroupValues);
    }
    if (const size_t rest = n % kGroupValues) {
      // The last group's input is whole; only its first `rest` values are written to out.
      float tail[kGroupValues];
      unpack_dequantize_group<kBits>(d8, p, in + full * group_bytes(kBits), tail);
      std::memcpy(out + full * kGroupValues, tail, rest * sizeof(float));
    }
  }
};

// Packs codes (each below 2^kBits, one per byte) group by group; the last group is padded with code 0.
struct PackCodesOp {
  const uint8_t* codes;
  size_t n;
  uint8_t* out;

  template <unsigned kBits>
  HWY_INLINE void run() const {
    const hn::CappedTag<uint8_t, kGroupLanes> d8;
    const size_t lanes = hn::Lanes(d8);
    const size_t full = n / kGroupValues;
    for (size_t g = 0; g < full; ++g) {
      for (size_t l = 0; l < kGroupLanes; l += lanes)
        pack_rows<kBits>(d8, codes + g * kGroupValues + l, out + g * group_bytes(kBits) + l);
    }
    if (const size_t rest = n % kGroupValues) {
      uint8_t tail[kGroupValues] = {};
      std::memcpy(tail, codes + full * kGroupValues, rest);
      for (size_t l = 0; l < kGroupLanes; l += lanes) pack_rows<kBits>(d8, tail + l, out + full * group_bytes(kBits) + l);
    }
  }
};

// Codes of x[0..n), one per byte; a partial last vector is padded with lo (code 0) without reading past x.
HWY_INLINE void quantize_codes_loop(const float* HWY_RESTRICT x, size_t n, const QuantParams& p,
                                    uint8_t* HWY_RESTRICT codes) {
  const hn::CappedTag<uint8_t, kGroupLanes> d8;
  const size_t lanes = hn::Lanes(d8);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(quantize_row_u8(d8, p, x + i), d8, codes + i);
  if (i < n) {
    float tail[kGroupLanes];
    uint8_t tail_codes[kGroupLanes];
    std::memcpy(tail, x + i, (n - i) * sizeof(float));
    for (size_t j = n - i; j < lanes; ++j) tail[j] = p.lo;
    hn::StoreU(quantize_row_u8(d8, p, tail), d8, tail_codes);
    std::memcpy(codes + i, tail_codes, n - i);
  }
}

// The one place where a run-time bit width becomes the compile-time kBits.
template <class Op>
HWY_INLINE void visit_bits(unsigned bits, const Op& op) {
  switch (bits) {
    case 1: return op.template run<1>();
    case 2: return op.template run<2>();
    case 3: return op.template run<3>();
    case 4: return op.template run<4>();
    case 5: return op.template run<5>();
    case 6: return op.template run<6>();
    case 7: return op.template run<7>();
    case 8: return op.template run<8>();
    default: return;  // rejected by the checks before any call
  }
}

// ARMv7 NEON flushes subnormal operands and results to zero; bounds where that can change a code or a value
// (needs_subnormals) take the scalar reference there, so every target writes the same bytes and values.
HWY_INLINE bool simd_flushes(const QuantParams& p) {
  return HWY_ARCH_ARM_V7 && HWY_TARGET == HWY_NEON && needs_subnormals(p);
}

// ------------------------------ entry points (same contract as quant.hpp)

inline Result<size_t> quantize_pack(const float* x, size_t n, unsigned bits, Bounds b, uint8_t* out,
                                    size_t out_capacity) {
  const Result<size_t> bytes = check_quantize_pack(x, n, bits, b, out, out_capacity);
  if (!bytes || n == 0) return bytes;
  const QuantParams p = make_params(bits, b);
  if (simd_flushes(p)) return ref::quantize_pack(x, n, bits, b, out, out_capacity);
  visit_bits(bits, QuantizePackOp{x, n, p, out});
  return bytes;
}

inline Result<size_t> unpack_dequantize(const uint8_t* in, size_t in_size, size_t n, unsigned bits, Bounds b,
                                        float* out, size_t out_capacity) {
  const Result<size_t> count = check_unpack_dequantize(in, in_size, n, bits, b, out, out_capacity);
  if (!count || n == 0) return count;
  const QuantParams p = make_params(bits, b);
  if (simd_flushes(p)) return ref::unpack_dequantize(in, in_size, n, bits, b, out, out_capacity);
  visit_bits(bits, UnpackDequantizeOp{in, n, p, out});
  return count;
}

inline Result<size_t> quantize_codes(const float* x, size_t n, unsigned bits, Bounds b, uint8_t* codes,
                                     size_t capacity) {
  const Result<size_t> count = check_quantize_codes(x, n, bits, b, codes, capacity);
  if (!count || n == 0 || x == nullptr || codes == nullptr) return count;
  const QuantParams p = make_params(bits, b);
  if (simd_flushes(p)) {
    for (size_t i = 0; i < n; ++i) codes[i] = static_cast<uint8_t>(ref::quantize_value(x[i], p));
  } else {
    quantize_codes_loop(x, n, p, codes);
  }
  return count;
}

inline Result<size_t> pack_codes(const uint8_t* codes, size_t n, unsigned bits, uint8_t* out, size_t out_capacity) {
  const Result<size_t> bytes = check_pack_codes(codes, n, bits, out, out_capacity);
  // The pointer tests repeat the check's, so GCC sees no null pointer reach memcpy on an inlined error path.
  if (bytes && n > 0 && codes != nullptr && out != nullptr) visit_bits(bits, PackCodesOp{codes, n, out});
  return bytes;
}

}  // namespace slimcodec::quant::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
