// Highway kernels for one row of 16 codes: quantize floats to u8 codes and dequantize codes to floats.
// Per-target include guard: compiled once for the static target, or once per target via foreach_target.h.

#include <cstddef>
#include <cstdint>

#include "slimcodec/quant/params.hpp"

#if defined(SLIMCODEC_QUANT_QUANTIZE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SLIMCODEC_QUANT_QUANTIZE_INL_H_
#undef SLIMCODEC_QUANT_QUANTIZE_INL_H_
#else
#define SLIMCODEC_QUANT_QUANTIZE_INL_H_
#endif

#include "slimcodec/quant/hwy_targets.hpp"  // before Highway: AVX3_DL fix
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace slimcodec::quant::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// t + 2^23 lies in [2^23, 2^23 + 255] for t in [0, 255], where floats are spaced 1 apart: the addition
// rounds t to an integer (ties to even, the IEEE default) and leaves it in the low mantissa bits. Unlike
// NearestInt, this is exact on every target, HWY_SCALAR included.
constexpr float kRoundingMagic = 8388608.0f;

// ------------------------------ clamp_levels

// NaN -> 0, then clamp to [0, levels].
template <class DF>
HWY_INLINE hn::Vec<DF> clamp_levels(DF df, hn::Vec<DF> t, hn::Vec<DF> levels) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  // (V)MAXPS returns its second operand when either one is NaN, so Max(t, 0) already maps NaN to 0
  // (quantize_pack about 1.1x faster on AVX3 than with the explicit select; the NaN tests cover every target).
  return hn::Min(hn::Max(t, hn::Zero(df)), levels);
#else
  // Elsewhere Max/Min may propagate NaN.
  return hn::Min(hn::Max(hn::IfThenElseZero(hn::Eq(t, t), t), hn::Zero(df)), levels);
#endif
}

// ------------------------------ quantize_rounded_f32

// For Lanes(df) floats: t = (x - lo) * inv, NaN -> 0, clamp to [0, L], then + kRoundingMagic.
template <class DF>
HWY_INLINE hn::Vec<DF> quantize_rounded_f32(DF df, const QuantParams& p, const float* HWY_RESTRICT x) {
  // Subtract, then multiply: nothing here can be contracted into an FMA, so every target and the scalar
  // reference compute the same t.
  const auto t = hn::Mul(hn::Sub(hn::LoadU(df, x), hn::Set(df, p.lo)), hn::Set(df, p.inv));
  return hn::Add(clamp_levels(df, t, hn::Set(df, p.levels)), hn::Set(df, kRoundingMagic));
}

// ------------------------------ rounded_to_u8

// The codes carried by quantize_rounded_f32's result, as u8 lanes.
template <class D8, class DF>
HWY_INLINE hn::Vec<D8> rounded_to_u8(D8 d8, DF df, hn::Vec<DF> rounded) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if constexpr (hn::MaxLanes(DF()) == 16) {
    // VPMOVDB keeps each lane's low byte, which already is the code: one instruction instead of
    // subtract + DemoteTo's pack, pack, permute (quantize_pack measured about 1.6x faster at 4 bits).
    // (The zero-masking form: GCC 12 warns about the undefined source operand of the unmasked one.)
    return hn::Vec<D8>{_mm512_maskz_cvtepi32_epi8(__mmask16(0xFFFF), _mm512_castps_si512(rounded.raw))};
  }
#endif
  const hn::RebindToSigned<DF> di;
  return hn::DemoteTo(d8, hn::Sub(hn::BitCast(di, rounded), hn::BitCast(di, hn::Set(df, kRoundingMagic))));
}

// ------------------------------ quantize_row_u8

// Codes of MaxLanes(d8) consecutive floats as u8 lanes. Where that many floats do not fit one vector,
// the halves are quantized separately and combined.
template <class D8>
HWY_INLINE hn::Vec<D8> quantize_row_u8(D8 d8, const QuantParams& p, const float* HWY_RESTRICT x) {
  if constexpr (hn::MaxLanes(D8()) * sizeof(float) <= HWY_MAX_BYTES) {
    const hn::Rebind<float, D8> df;
    return rounded_to_u8(d8, df, quantize_rounded_f32(df, p, x));
  } else {
#if HWY_TARGET != HWY_SCALAR  // HWY_SCALAR has neither Combine nor the need for it
    const hn::Half<D8> dh;
    constexpr size_t kHalf = hn::MaxLanes(hn::Half<D8>());
    return hn::Combine(d8, quantize_row_u8(dh, p, x + kHalf), quantize_row_u8(dh, p, x));
#endif
  }
}

// ------------------------------ dequantize_row_u8

// Writes lo + q * step for the MaxLanes(d8) codes in `codes` to out[0 ..]. MulAdd may be a fused
// multiply-add, so results can differ from the scalar reference by one rounding.
template <class D8>
HWY_INLINE void dequantize_row_u8(D8 /* d8 */, const QuantParams& p, hn::Vec<D8> codes, float* HWY_RESTRICT out) {
  if constexpr (hn::MaxLanes(D8()) * sizeof(float) <= HWY_MAX_BYTES) {
    const hn::Rebind<int32_t, D8> di;
    const hn::Rebind<float, D8> df;
    const auto q = hn::ConvertTo(df, hn::PromoteTo(di, codes));
    hn::StoreU(hn::MulAdd(q, hn::Set(df, p.step), hn::Set(df, p.lo)), df, out);
  } else {
#if HWY_TARGET != HWY_SCALAR
    const hn::Half<D8> dh;
    constexpr size_t kHalf = hn::MaxLanes(hn::Half<D8>());
    dequantize_row_u8(dh, p, hn::LowerHalf(dh, codes), out);
    dequantize_row_u8(dh, p, hn::UpperHalf(dh, codes), out + kHalf);
#endif
  }
}

}  // namespace slimcodec::quant::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
