// The slimcodec demo: a synthetic 6x96x96 feature map through quantize -> pack -> frame -> parse -> dequantize
// at every bit width, with frame bytes and reconstruction SNR per width.
#include <slimcodec/slimcodec.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

// A feature-map-like tensor: smooth spatial structure per channel plus noise, unit-ish variance.
std::vector<float> synthetic_features(size_t c, size_t h, size_t w) {
  std::mt19937 rng(42);
  std::normal_distribution<float> noise(0.f, 0.3f);
  std::vector<float> x(c * h * w);
  for (size_t k = 0; k < c; ++k)
    for (size_t i = 0; i < h; ++i)
      for (size_t j = 0; j < w; ++j)
        x[(k * h + i) * w + j] = std::sin(0.11f * float(i) * float(k + 1)) * std::cos(0.07f * float(j)) + noise(rng);
  return x;
}

double snr_db(const std::vector<float>& ref, const std::vector<float>& got) {
  double signal = 0, error = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    signal += double(ref[i]) * ref[i];
    error += double(ref[i] - got[i]) * (ref[i] - got[i]);
  }
  return 10.0 * std::log10(signal / std::max(error, 1e-30));
}

}  // namespace

int main() {
  using namespace slimcodec;
  constexpr uint16_t kC = 6, kH = 96, kW = 96;
  constexpr size_t kN = size_t(kC) * kH * kW;
  const std::vector<float> x = synthetic_features(kC, kH, kW);
  auto bounds = quant::bounds_from_sigma(x.data(), x.size(), 3.f);
  if (!bounds) return std::fprintf(stderr, "bounds: %s\n", bounds.error().what()), 1;

  std::vector<uint8_t> frame(max_frame_size(kN, 8));
  std::vector<float> y(kN);
  std::printf("slimcodec demo: synthetic %ux%ux%u feature map (%zu floats = %zu bytes as fp32)\n", kC, kH, kW, kN,
              kN * sizeof(float));
  std::printf("bounds from 3 sigma: [%.3f, %.3f]\n\n", bounds->lo, bounds->hi);
  std::printf("%4s %12s %10s %10s %12s\n", "bits", "frame bytes", "ratio", "SNR dB", "max |err|");
  for (unsigned bits = 1; bits <= 8; ++bits) {
    EncodeParams params{4, uint8_t(bits), {kC, kH, kW}, *bounds, bits, 0, wire::BoundMode::from_sigma};
    auto size = encode_frame(x.data(), params, frame.data(), frame.size());
    if (!size) return std::fprintf(stderr, "encode b=%u: %s\n", bits, size.error().what()), 1;

    // A stream transport hands the parser bytes in arbitrary pieces; feed it 1000 bytes at a time.
    wire::FrameParser parser;
    size_t fed = 0;
    while (fed < *size && !parser.has_frame()) {
      auto step = parser.feed(frame.data() + fed, std::min<size_t>(1000, *size - fed));
      if (!step) return std::fprintf(stderr, "parse b=%u: %s\n", bits, step.error().what()), 1;
      fed += *step;
    }
    auto decoded = dequantize_frame(parser.frame(), y.data(), y.size());
    if (!decoded) return std::fprintf(stderr, "decode b=%u: %s\n", bits, decoded.error().what()), 1;

    float max_err = 0;
    for (size_t i = 0; i < kN; ++i)
      if (x[i] >= bounds->lo && x[i] <= bounds->hi) max_err = std::max(max_err, std::fabs(x[i] - y[i]));
    std::printf("%4u %12zu %9.1fx %10.2f %12.4f\n", bits, *size, double(kN * sizeof(float)) / double(*size),
                snr_db(x, y), max_err);
  }
  return 0;
}
