// Compile matrix program (scripts/march-matrix): built with every public header (-include of the generated list)
// for one -march, it instantiates the quantizer at every bit width and every kernel of the paper encoder and
// reconstructor. Run where the CPU allows: the quantizer must match the scalar reference byte for byte, and
// the network output must match the baseline build's (--write at -march=x86-64, then --compare) within float
// tolerance (FMA and vector widths change rounding, nothing more).
// Usage: march_check [--write FILE | --compare FILE]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/model/network.hpp>
#include <slimcodec/quant/quant.hpp>

namespace {

using namespace slimcodec;

int check_quant() {
  constexpr size_t kN = 5 * 128 + 37;
  std::vector<float> x(kN), y(kN), y_ref(kN);
  for (size_t i = 0; i < kN; ++i) x[i] = 3.5f * std::sin(0.37f * float(i)) + (i % 7 == 0 ? 9.f : 0.f);
  for (unsigned bits = 1; bits <= 8; ++bits) {
    const quant::Bounds b = quant::bounds_from_ensemble(1 + bits % 4);
    std::vector<uint8_t> packed(quant::packed_bytes(kN, bits)), expected(packed.size());
    if (!quant::quantize_pack(x.data(), kN, bits, b, packed.data(), packed.size()) ||
        !quant::ref::quantize_pack(x.data(), kN, bits, b, expected.data(), expected.size()) || packed != expected) {
      std::printf("march_check: quantize_pack differs from the reference at b=%u\n", bits);
      return 1;
    }
    if (!quant::unpack_dequantize(packed.data(), packed.size(), kN, bits, b, y.data(), kN) ||
        !quant::ref::unpack_dequantize(packed.data(), packed.size(), kN, bits, b, y_ref.data(), kN) ||
        std::memcmp(y.data(), y_ref.data(), kN * sizeof(float)) != 0) {
      std::printf("march_check: unpack_dequantize differs from the reference at b=%u\n", bits);
      return 1;
    }
  }
  return 0;
}

// Paper encoder (s = 4) then reconstructor on a 64 x 48 input: every kernel the model uses, odd sizes included.
std::vector<float> run_model() {
  constexpr int kH = 64, kW = 48;
  auto enc = model::Encoder<layers::paper::Encoder>::create(kH, kW);
  auto rec = model::Network<layers::paper::Reconstructor>::create(kH / 4, kW / 4);
  if (!enc || !rec) return {};
  enc->init_random(7);
  rec->init_random(11);
  if (!enc->set_active(4)) return {};
  std::vector<float> in(size_t(3) * kH * kW), latent(size_t(6) * (kH / 4) * (kW / 4));
  std::vector<float> out(size_t(24) * (kH / 2) * (kW / 2));
  for (size_t i = 0; i < in.size(); ++i) in[i] = float(int(i * 7919 % 1000) - 500) / 250.f;
  enc->encode(in.data(), latent.data());
  rec->run(latent.data(), out.data());
  latent.insert(latent.end(), out.begin(), out.end());
  return latent;
}

}  // namespace

int main(int argc, char** argv) {
  if (check_quant()) return 1;
  const std::vector<float> y = run_model();
  if (y.empty()) {
    std::puts("march_check: could not create the networks");
    return 1;
  }
  const char* mode = argc > 2 ? argv[1] : "";
  if (std::strcmp(mode, "--write") == 0) {
    FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(y.data(), sizeof(float), y.size(), f) != y.size()) return 1;
    std::fclose(f);
  } else if (std::strcmp(mode, "--compare") == 0) {
    std::vector<float> ref(y.size());
    FILE* f = std::fopen(argv[2], "rb");
    if (!f || std::fread(ref.data(), sizeof(float), ref.size(), f) != ref.size()) return 1;
    std::fclose(f);
    // Relative to the output's RMS: InstanceNorm divides by small spatial deviations, so single values near
    // zero carry rounding from every earlier layer; the bound still catches a wrong kernel (errors of order 1).
    double worst = 0, sq = 0;
    for (size_t i = 0; i < y.size(); ++i) sq += double(ref[i]) * ref[i];
    const double rms = std::sqrt(sq / double(y.size()));
    for (size_t i = 0; i < y.size(); ++i) {
      const double err = std::fabs(double(y[i]) - ref[i]) / rms;
      if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
    }
    if (!(worst < 1e-3)) {
      std::printf("march_check: network output differs from the baseline build (worst %.3g of the RMS)\n", worst);
      return 1;
    }
    std::printf("max difference from the baseline build %.2g of the RMS; ", worst);
  }
  std::printf("march_check ok: quantizer b=1..8 bit-exact (%s), network output %zu values\n",
              hwy::TargetName(HWY_STATIC_TARGET), y.size());
  return 0;
}
