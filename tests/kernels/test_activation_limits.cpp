// vexp2, sigmoid and SiLU on non-finite and huge inputs: a convolution that overflowed to
// inf or NaN, or NaN weights, must give defined results, never a signed-integer overflow. Checked on the build's
// arch, on the baseline generic path (SSE2 / NEON: the one a -march=native sanitizer build never runs) and on
// plain float. Under UBSan a signed overflow fails the test: the generic path must not multiply NaN's bits by 2^23
// as a signed integer.
#include <slimcodec/kernels/activation.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace slimcodec;

namespace {

const std::vector<float> kInputs = {std::numeric_limits<float>::quiet_NaN(),
                                    -std::numeric_limits<float>::quiet_NaN(),
                                    std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    3e38f, -3e38f, 4.25e37f, -4.25e37f, 1e9f, -1e9f, 200.f, -200.f, 127.f, -127.f,
                                    std::numeric_limits<float>::denorm_min(), 0.f, -0.f, 1.f, -1.f, 0.5f};

// Applies f to kInputs, lane by lane through batches of V (or one float at a time).
template <class V, class F>
std::vector<float> apply(F f) {
  std::vector<float> out(kInputs.size());
  if constexpr (std::is_same_v<V, float>) {
    for (size_t i = 0; i < kInputs.size(); ++i) out[i] = f(kInputs[i]);
  } else {
    constexpr size_t L = V::size;
    std::vector<float> in(kInputs), tmp(L);
    in.resize((in.size() + L - 1) / L * L, 0.f);
    out.resize(in.size());
    for (size_t i = 0; i < in.size(); i += L) f(V::load_unaligned(&in[i])).store_unaligned(&out[i]);
    out.resize(kInputs.size());
  }
  return out;
}

template <class V>
void check_limits() {
  const auto e = apply<V>([](auto x) { return kernels::vexp2(x); });
  const auto sg = apply<V>([](auto x) { return kernels::sigmoid(x); });
  const auto si = apply<V>([](auto x) { return kernels::silu(x); });
  for (size_t i = 0; i < kInputs.size(); ++i) {
    const float x = kInputs[i];
    INFO("x = " << x << ", 2^x = " << e[i] << ", sigmoid = " << sg[i] << ", silu = " << si[i]);
    if (std::isnan(x)) {
      CHECK((std::isnan(e[i]) || (e[i] > 0.f && e[i] <= std::ldexp(1.f, -126))));  // the clamp's low end (generic)
      CHECK(std::isnan(si[i]));                                       // x * sigmoid(x) keeps the NaN
      continue;
    }
    CHECK(e[i] >= 0.f);
    CHECK_FALSE(std::isnan(sg[i]));
    CHECK((sg[i] >= 0.f && sg[i] <= 1.f));
    if (x >= 127.f) CHECK(e[i] >= 0.99f * std::ldexp(1.f, 126));  // saturates (about 2^126, or inf), never wraps
    if (x <= -127.f) CHECK(e[i] <= std::ldexp(1.f, -126));          // towards 0, never wraps
    if (std::fabs(x) <= 1.f) CHECK(e[i] == Approx(std::exp2(x)).epsilon(1e-5));
    if (std::isfinite(x) && x >= 200.f) CHECK(si[i] == Approx(x).epsilon(1e-5));  // silu(x) = x
    // silu(x) -> 0 for very negative x; with e^-x saturated near 2^126 it is x * 2^-126, tiny next to |x|.
    if (std::isfinite(x) && x <= -200.f) CHECK(std::fabs(si[i]) <= std::fabs(x) * std::ldexp(1.f, -100));
  }
}

#if !defined(SLIMCODEC_NO_XSIMD)  // the forced-scalar build has no xsimd at all
template <class Arch>
void check_arch(Arch) {
  if constexpr (!std::is_same_v<Arch, kernels::scalar_arch>) check_limits<xsimd::batch<float, Arch>>();
}
#endif

}  // namespace

TEST_CASE("vexp2, sigmoid and silu give defined results for NaN, inf and huge inputs", "[kernels][activation]") {
  SECTION("plain float") { check_limits<float>(); }
#if !defined(SLIMCODEC_NO_XSIMD)
  SECTION("build arch") { check_arch(kernels::default_arch{}); }
#if defined(__SSE2__)
  SECTION("baseline SSE2 (generic exponent arithmetic)") { check_arch(xsimd::sse2{}); }
#elif defined(__aarch64__)
  SECTION("baseline NEON64 (generic exponent arithmetic)") { check_arch(xsimd::neon64{}); }
#endif
#endif
}
