// weights::to_float: F16 and BF16 widen exactly (every half value checked against the hardware-free formula's
// known points), F32 copies, other dtypes and short buffers are typed errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <slimcodec/weights/to_float.hpp>

using namespace slimcodec;
using weights::DType;
using weights::TensorView;

namespace {

TensorView view(DType t, const void* data, size_t nbytes) {
  TensorView v;
  v.dtype = t;
  v.data = data;
  v.nbytes = nbytes;
  return v;
}

}  // namespace

TEST_CASE("half_to_float: special and boundary values") {
  CHECK(weights::half_to_float(0x3c00) == 1.0f);
  CHECK(weights::half_to_float(0xc000) == -2.0f);
  CHECK(weights::half_to_float(0x7bff) == 65504.0f);                  // largest normal
  CHECK(weights::half_to_float(0x0400) == std::ldexp(1.0f, -14));     // smallest normal
  CHECK(weights::half_to_float(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
  CHECK(weights::half_to_float(0x03ff) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(std::signbit(weights::half_to_float(0x8000)));
  CHECK(weights::half_to_float(0x7c00) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(weights::half_to_float(0x7e00)));
  // Monotonic over all finite positive halves: each is larger than the one before.
  for (uint32_t h = 1; h < 0x7c00; ++h) REQUIRE(weights::half_to_float(uint16_t(h)) > weights::half_to_float(uint16_t(h - 1)));
}

TEST_CASE("to_float: F32, F16, BF16 and errors") {
  const float f32[3] = {1.5f, -0.25f, 3e38f};
  const uint8_t f16[4] = {0x00, 0x3c, 0x00, 0xc0};  // 1, -2 little-endian
  const uint8_t bf16[4] = {0x80, 0x3f, 0x49, 0x40};  // 1, 3.140625
  std::vector<float> out(3);
  REQUIRE(weights::to_float(view(DType::F32, f32, sizeof f32), out.data(), 3).value() == 3);
  CHECK(std::memcmp(out.data(), f32, sizeof f32) == 0);
  REQUIRE(weights::to_float(view(DType::F16, f16, 4), out.data(), 3).value() == 2);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == -2.0f);
  REQUIRE(weights::to_float(view(DType::BF16, bf16, 4), out.data(), 3).value() == 2);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 3.140625f);
  CHECK(weights::to_float(view(DType::F32, f32, sizeof f32), out.data(), 2).error().code == Errc::buffer_too_small);
  const int32_t i32[1] = {7};
  CHECK(weights::to_float(view(DType::I32, i32, 4), out.data(), 3).error().code == Errc::tensor_dtype_mismatch);
}
