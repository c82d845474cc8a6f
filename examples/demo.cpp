// The slimcodec demo: one real photo through all 16 operating points. For each (s, b): encode on the "device",
// quantize and frame, parse on the "server", reconstruct with the native reconstructor, and compare with the
// s = 4 fp32 reconstruction. Usage: demo [image.(png|jpg)] [encoder.safetensors] [reconstructor.safetensors]
#define SLIMCODEC_IMAGE_IMPLEMENTATION
#include <slimcodec/decode/native.hpp>
#include <slimcodec/io/image.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/slimcodec.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

namespace {

using namespace slimcodec;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Signal-to-noise ratio of `got` against `ref`, in dB.
double snr_db(const float* ref, const float* got, size_t n) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    signal += double(ref[i]) * ref[i];
    noise += double(ref[i] - got[i]) * (ref[i] - got[i]);
  }
  return 10.0 * std::log10(signal / std::max(noise, 1e-30));
}

int fail(const char* what, const Error& e) { return std::fprintf(stderr, "%s: %s\n", what, e.what()), 1; }

}  // namespace

int main(int argc, char** argv) {
  const std::string image_path = argc > 1 ? argv[1] : SLIMCODEC_DEMO_IMAGE;
  const std::string encoder_path = argc > 2 ? argv[2] : SLIMCODEC_DATA_DIR "/encoder_weights.safetensors";
  const std::string recon_path = argc > 3 ? argv[3] : SLIMCODEC_DATA_DIR "/reconstructor_weights.safetensors";
  using Encoder = model::Encoder<layers::paper::Encoder>;
  constexpr auto kIn = layers::paper::kInput;
  constexpr auto kLatent = layers::paper::kLatent;

  auto image = io::load_image(image_path);
  if (!image) return fail(image_path.c_str(), image.error());
  std::vector<float> input(size_t(kIn.size()));
  if (auto ok = io::preprocess_image(*image, input.data(), kIn.h, kIn.w); !ok) return fail("preprocess", ok.error());

  auto weights = weights::SafeTensorsFile::open(encoder_path);
  if (!weights) return fail(encoder_path.c_str(), weights.error());
  auto encoder = Encoder::create(int(kIn.h), int(kIn.w));
  if (!encoder) return fail("encoder", encoder.error());
  if (auto ok = encoder->load(*weights, ""); !ok) return fail("encoder weights", ok.error());
  auto decoder = decode::BackendRegistry::global().create("native", {{"weights", recon_path}});
  if (!decoder) return fail("reconstructor", decoder.error());

  std::printf("slimcodec demo: %s (%zux%zu) -> 3x%lldx%lld -> encoder -> 6x%lldx%lld -> frame -> reconstructor\n",
              image_path.c_str(), image->width, image->height, (long long)kIn.h, (long long)kIn.w,
              (long long)kLatent.h, (long long)kLatent.w);
  std::printf("weights: %s, %s\n(the committed fixtures are random-initialised: the table shows cost and fidelity, "
              "not task accuracy)\n\n", encoder_path.c_str(), recon_path.c_str());

  // Reference: s = 4 without quantization, reconstructed.
  const size_t n = size_t(kLatent.size());
  std::vector<float> latent(n), dequantized(n);
  encoder->encode(input.data(), latent.data());
  auto reference_out = (*decoder)->decode(latent.data(), {6, size_t(kLatent.h), size_t(kLatent.w)});
  if (!reference_out) return fail("reconstruct", reference_out.error());
  const std::vector<float> reference(reference_out->features.data,
                                     reference_out->features.data + reference_out->features.shape.size());

  std::vector<uint8_t> frame(max_frame_size(n, 8));
  std::printf("%2s %2s %11s %11s %12s %11s %16s\n", "s", "b", "encode ms", "frame B", "fp32/frame", "decode ms",
              "SNR vs s=4 fp32");
  for (int s = 1; s <= 4; ++s) {
    if (auto ok = encoder->set_active(s); !ok) return fail("set_active", ok.error());
    for (uint8_t b = 1; b <= 4; ++b) {
      const auto t0 = Clock::now();
      encoder->encode(input.data(), latent.data());
      EncodeParams p{uint8_t(s), b, {6, uint16_t(kLatent.h), uint16_t(kLatent.w)}, quant::bounds_from_ensemble(s),
                     uint32_t(s * 10 + b), 0, wire::BoundMode::from_ensemble_size};
      auto size = encode_frame(latent.data(), p, frame.data(), frame.size());
      const double encode_ms = ms_since(t0);
      if (!size) return fail("encode_frame", size.error());

      const auto t1 = Clock::now();
      auto header = decode_frame(frame.data(), *size, dequantized.data(), dequantized.size());
      if (!header) return fail("decode_frame", header.error());
      auto out = (*decoder)->decode(dequantized.data(), {header->channels, header->height, header->width});
      if (!out) return fail("reconstruct", out.error());
      const double decode_ms = ms_since(t1);
      std::printf("%2d %2u %11.2f %11zu %11.1fx %11.1f %13.2f dB\n", s, unsigned(b), encode_ms, *size,
                  double(n * sizeof(float)) / double(*size), decode_ms,
                  snr_db(reference.data(), out->features.data, reference.size()));
    }
  }
  return 0;
}
