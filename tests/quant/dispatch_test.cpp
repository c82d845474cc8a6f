// Run-time dispatch example and per-target test. This file re-includes itself through foreach_target.h, so
// pack-inl.h is compiled once per attainable Highway target; HWY_EXPORT/HWY_DYNAMIC_DISPATCH then call the best
// one for this CPU, exactly as an application .cc would. The test forces each target the CPU supports in turn and
// checks it against the scalar reference: bytes bit for bit, values within tolerance.

// Compile every attainable target (SSSE3 .. AVX3_DL and the scalar fallback on x86), even those below the
// compiler's baseline, as Highway's own tests do; an application would normally leave this out.
#ifndef HWY_COMPILE_ALL_ATTAINABLE
#define HWY_COMPILE_ALL_ATTAINABLE
#endif
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/dispatch_test.cpp"  // this file, relative to an include directory
#include <hwy/foreach_target.h>  // re-includes this file once per target
#include <hwy/highway.h>

#include <slimcodec/quant/pack-inl.h>

// ---- per target: one function per entry point, in namespace <yours>::HWY_NAMESPACE
HWY_BEFORE_NAMESPACE();
namespace quant_dispatch_example {
namespace HWY_NAMESPACE {

slimcodec::Result<size_t> quantize_pack(const float* x, size_t n, unsigned bits, slimcodec::quant::Bounds b,
                                        uint8_t* out, size_t out_capacity) {
  return slimcodec::quant::HWY_NAMESPACE::quantize_pack(x, n, bits, b, out, out_capacity);
}

slimcodec::Result<size_t> unpack_dequantize(const uint8_t* in, size_t in_size, size_t n, unsigned bits,
                                            slimcodec::quant::Bounds b, float* out, size_t out_capacity) {
  return slimcodec::quant::HWY_NAMESPACE::unpack_dequantize(in, in_size, n, bits, b, out, out_capacity);
}

int64_t compiled_target() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace quant_dispatch_example
HWY_AFTER_NAMESPACE();

// ---- once: dispatch tables and the functions an application calls
#if HWY_ONCE

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "quant/quant_test_util.hpp"
#include <slimcodec/quant/ref.hpp>

namespace quant_dispatch_example {

HWY_EXPORT(quantize_pack);
HWY_EXPORT(unpack_dequantize);
HWY_EXPORT(compiled_target);

slimcodec::Result<size_t> quantize_pack(const float* x, size_t n, unsigned bits, slimcodec::quant::Bounds b,
                                        uint8_t* out, size_t out_capacity) {
  return HWY_DYNAMIC_DISPATCH(quantize_pack)(x, n, bits, b, out, out_capacity);
}

slimcodec::Result<size_t> unpack_dequantize(const uint8_t* in, size_t in_size, size_t n, unsigned bits,
                                            slimcodec::quant::Bounds b, float* out, size_t out_capacity) {
  return HWY_DYNAMIC_DISPATCH(unpack_dequantize)(in, in_size, n, bits, b, out, out_capacity);
}

int64_t compiled_target() { return HWY_DYNAMIC_DISPATCH(compiled_target)(); }

}  // namespace quant_dispatch_example

namespace {

namespace quant = slimcodec::quant;
namespace example = quant_dispatch_example;

// Every width, length and bound through the currently chosen target.
void check_current_target() {
  uint32_t seed = 9;
  for (unsigned bits = 1; bits <= 8; ++bits) {
    for (const quant::Bounds& b : quant::test::bounds_list()) {
      for (size_t n : quant::test::lengths()) {
        INFO("bits " << bits << ", n " << n << ", bounds [" << b.lo << ", " << b.hi << "]");
        // Offset by one float / one byte so no target sees vector-aligned buffers.
        std::vector<float> in(n + 1);
        const std::vector<float> x = quant::test::awkward_values(n, b, seed++);
        std::copy(x.begin(), x.end(), in.begin() + 1);
        const size_t bytes = quant::packed_bytes(n, bits);
        std::vector<uint8_t> simd(bytes + 1), ref(bytes);
        const auto rs = example::quantize_pack(in.data() + 1, n, bits, b, simd.data() + 1, bytes);
        const auto rr = quant::ref::quantize_pack(x.data(), n, bits, b, ref.data(), bytes);
        REQUIRE(rs.ok());
        REQUIRE(rr.ok());
        REQUIRE(*rs == bytes);
        REQUIRE(std::equal(ref.begin(), ref.end(), simd.begin() + 1));

        std::vector<float> y_simd(n + 1), y_ref(n);
        REQUIRE(example::unpack_dequantize(simd.data() + 1, bytes, n, bits, b, y_simd.data() + 1, n).ok());
        REQUIRE(quant::ref::unpack_dequantize(ref.data(), bytes, n, bits, b, y_ref.data(), n).ok());
        const float tol = quant::test::dequant_tolerance(b);
        for (size_t i = 0; i < n; ++i) REQUIRE(std::fabs(y_simd[i + 1] - y_ref[i]) <= tol);
      }
    }
  }
  // Errors are reported the same way on every target.
  std::vector<uint8_t> out(16);
  const float one = 1.f;
  CHECK(example::quantize_pack(&one, 1, 9, {0.f, 1.f}, out.data(), out.size()).code() ==
        slimcodec::Errc::bits_out_of_range);
  CHECK(example::unpack_dequantize(out.data(), 15, 1, 1, {0.f, 1.f}, nullptr, 1).code() ==
        slimcodec::Errc::invalid_argument);
}

}  // namespace

TEST_CASE("dynamic dispatch: every supported target writes the reference bytes", "[quant][dispatch]") {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("target " << hwy::TargetName(target));
    REQUIRE(example::compiled_target() == target);
    check_current_target();
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the best target
  std::string names;
  for (int64_t target : targets) names += std::string(" ") + hwy::TargetName(target);
  WARN("targets checked:" << names);
}

#endif  // HWY_ONCE
