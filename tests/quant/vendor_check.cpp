// Built by ctest with only `c++ -std=c++17 -O2 -I include` and no -lhwy: vendoring the headers must not need
// libhwy (no hwy::Abort or target tables referenced by static dispatch). Exits non-zero on a wrong round trip.
#include <cmath>
#include <cstdio>
#include <vector>

#include <slimcodec/quant/quant.hpp>

int main() {
  namespace quant = slimcodec::quant;
  constexpr size_t kN = 3 * 128 + 5;
  std::vector<float> x(kN);
  for (size_t i = 0; i < kN; ++i) x[i] = std::sin(0.1f * static_cast<float>(i)) * 2.5f;
  const quant::Bounds b = quant::bounds_from_ensemble(1);
  std::vector<uint8_t> packed(quant::packed_bytes(kN, 4)), expected(packed.size());
  std::vector<float> y(kN);
  if (!quant::quantize_pack(x.data(), kN, 4, b, packed.data(), packed.size()) ||
      !quant::ref::quantize_pack(x.data(), kN, 4, b, expected.data(), expected.size()) || packed != expected ||
      !quant::unpack_dequantize(packed.data(), packed.size(), kN, 4, b, y.data(), kN)) {
    std::puts("quant vendor check: pack failed");
    return 1;
  }
  const float half_step = 0.5f * (b.hi - b.lo) / 15.f;
  for (size_t i = 0; i < kN; ++i) {
    if (!(std::fabs(x[i] - y[i]) <= half_step * 1.001f)) {
      std::printf("quant vendor check: value %zu off by %g\n", i, std::fabs(x[i] - y[i]));
      return 1;
    }
  }
  std::printf("quant vendor check ok (%s)\n", hwy::TargetName(HWY_STATIC_TARGET));
  return 0;
}
