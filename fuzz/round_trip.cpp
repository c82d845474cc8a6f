// Fuzz target: random tensor, s, b, shape and bounds -> quantize + pack -> write_frame -> parse_frame ->
// unpack + dequantize. The header must echo its inputs and |x - x'| <= step/2 for x inside [lo, hi].
// The library's quant/ packer runs beside the spec-derived reference (ref_pack.hpp): same bytes required.
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_check.hpp"
#include "ref_pack.hpp"
#include <slimcodec/quant/quant.hpp>
#include <slimcodec/wire/wire.hpp>

using namespace slimcodec;
using namespace slimcodec::wire;
using fuzz::require;

namespace {

// Reads the input front to back; past its end, yields zeros.
struct Bytes {
  const uint8_t* p;
  size_t n;
  uint8_t u8() { return n ? (--n, *p++) : 0; }
  uint32_t u32() {  // one read per statement: operand evaluation order is unspecified
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= uint32_t{u8()} << (8 * k);
    return v;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in{data, size};
  FrameHeader h;
  h.bits = uint8_t(1 + in.u8() % 8);
  h.ensemble_size = uint8_t(1 + in.u8() % 16);
  h.bound_mode = BoundMode(in.u8() % 3);
  h.channels = uint16_t(1 + in.u8() % 8);
  h.height = uint16_t(1 + in.u8() % 16);
  h.width = uint16_t(1 + in.u8() % 24);
  h.frame_id = in.u32();
  const uint64_t high = in.u32();
  h.timestamp_us = high << 32 | in.u32();
  // Bounds: either raw bit patterns (anything, NaN included) or a tame range scaled by a power of two.
  const uint8_t how = in.u8();
  if (how & 1) {
    h.lo = float_from_bits(in.u32());
    h.hi = float_from_bits(in.u32());
  } else {
    const int scale = int(in.u8() % 64) - 32;
    h.lo = std::ldexp(-float(1 + in.u8()), scale);
    h.hi = std::ldexp(float(1 + in.u8()), scale);
  }
  const unsigned bits = h.bits;
  const size_t n = size_t(h.channels) * h.height * h.width;

  // The tensor: raw float bit patterns from the input, or values spread over (and past) the bounds.
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = in.u32();
    x[i] = (how & 2) ? float_from_bits(r) : h.lo + (h.hi - h.lo) * (float(r % 2001) / 1000.0f - 0.5f) * 1.25f;
  }

  std::vector<uint8_t> codes(n), frame(kHeaderSize + raw_bitpack_size(n, bits) + kTrailerSize);
  for (size_t i = 0; i < n; ++i) codes[i] = ref::quantize_one(x[i], bits, h.lo, h.hi);
  ref::pack_codes(codes.data(), n, bits, frame.data() + kHeaderSize);
  const auto written = seal_frame(h, frame.data(), frame.size());
  const bool bounds_ok =
      bound_in_range(h.lo) && bound_in_range(h.hi) && h.lo < h.hi && step_is_normal(h.lo, h.hi, bits);
  if (!bounds_ok) {
    require(written.code() == Errc::bounds_invalid, "writer accepted invalid bounds");
    return 0;
  }
  require(written.ok() && *written == frame.size(), "writer rejected a valid header");
  std::vector<uint8_t> packed(frame.size() - kHeaderSize - kTrailerSize);
  const quant::Bounds qb{h.lo, h.hi};
  const auto qp = quant::quantize_pack(x.data(), n, bits, qb, packed.data(), packed.size());
  require(qp.ok() && *qp == packed.size(), "quant::quantize_pack failed on valid input");
  require(std::equal(packed.begin(), packed.end(), frame.begin() + kHeaderSize),
          "quant::quantize_pack bytes differ from the reference packer");

  const auto v = parse_frame(frame.data(), frame.size());
  require(v.ok(), "parser rejected a frame the writer produced");
  const FrameHeader& g = v->header;
  require(g.bits == h.bits && g.ensemble_size == h.ensemble_size && g.bound_mode == h.bound_mode &&
              g.channels == h.channels && g.height == h.height && g.width == h.width &&
              g.frame_id == h.frame_id && g.timestamp_us == h.timestamp_us &&
              bits_from_float(g.lo) == bits_from_float(h.lo) && bits_from_float(g.hi) == bits_from_float(h.hi) &&
              g.payload_size == raw_bitpack_size(n, bits),
          "header does not echo the inputs");

  std::vector<uint8_t> back(n);
  ref::unpack_codes(v->payload, n, bits, back.data());
  require(back == codes, "codes changed on the way");

  const float levels = float((1u << bits) - 1);
  const float step = (h.hi - h.lo) / levels, inv = levels / (h.hi - h.lo);
  // The step/2 bound needs a quantizer that can resolve the range: normal step, finite 1/step.
  if (!std::isnormal(step) || !std::isfinite(inv)) return 0;
  const float mag = std::fmax(std::fabs(h.lo), std::fabs(h.hi));
  const float tol = step * (0.5f + 1e-3f) + 4 * FLT_EPSILON * mag;
  std::vector<float> xq(n);
  const auto qu = quant::unpack_dequantize(v->payload, v->payload_size, n, bits, qb, xq.data(), xq.size());
  require(qu.ok() && *qu == n, "quant::unpack_dequantize failed on a valid payload");
  for (size_t i = 0; i < n; ++i) {
    const float y = ref::dequantize_one(back[i], bits, g.lo, g.hi);
    // quant/ may fuse the multiply-add: allow a couple of ulps of the bounds.
    require(std::fabs(xq[i] - y) <= 4 * FLT_EPSILON * mag, "quant::unpack_dequantize differs from lo + q*step");
    require(std::isfinite(y) && y >= g.lo - tol && y <= g.hi + tol, "reconstruction outside the bounds");
    if (std::isnan(x[i])) require(back[i] == 0, "NaN must quantize to code 0");
    else if (x[i] <= h.lo) require(back[i] == 0, "values below lo must clamp to code 0");
    else if (x[i] >= h.hi) require(back[i] == (1u << bits) - 1, "values above hi must clamp to the top code");
    else require(std::fabs(x[i] - y) <= tol, "|x - x'| > step/2 inside the bounds");
  }
  return 0;
}
