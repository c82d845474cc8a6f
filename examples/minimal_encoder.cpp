// The smallest complete device program: paper encoder on a 3x384x384 input -> 4-bit wire frame. No files, no
// exceptions needed; I/O buffers are static, the encoder makes one allocation. docs/embedding.md measures it.
// Usage: minimal_encoder [frames = 1] [s = 1]
#include <slimcodec/codec.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>

#include <cstdio>
#include <cstdlib>

#if defined(SLIMCODEC_EMBEDDED_WEIGHTS)  // tests/embedded builds this file with weights linked in
#include "encoder_weights.hpp"
#endif

namespace {

using namespace slimcodec;
constexpr layers::Shape kIn = layers::paper::kInput, kOut = layers::paper::kLatent;
constexpr unsigned kBits = 4;

float g_input[kIn.size()];
float g_latent[kOut.size()];
uint8_t g_frame[max_frame_size(kOut.size(), kBits)];

int fail(const Error& e) {
  std::fprintf(stderr, "minimal_encoder: %s\n", e.what());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::atoi(argv[1]) : 1;
  const int s = argc > 2 ? std::atoi(argv[2]) : 1;
  if (frames < 1) return fail(Error{Errc::invalid_argument, "frames must be at least 1"});

  auto encoder = model::Encoder<layers::paper::Encoder>::create(int(kIn.h), int(kIn.w));
  if (!encoder) return fail(encoder.error());
#if defined(SLIMCODEC_EMBEDDED_WEIGHTS)
  if (auto loaded = encoder->load(encoder_weights::kSource, ""); !loaded) return fail(loaded.error());
#else
  encoder->init_random(1);
#endif
  if (auto active = encoder->set_active(s); !active) return fail(active.error());

  for (size_t i = 0; i < size_t(kIn.size()); ++i) {
    g_input[i] = float(int(i * 7919 % 1000) - 500) / 250.f;  // a stand-in for a preprocessed camera frame
  }
  size_t bytes = 0;
  for (int f = 0; f < frames; ++f) {  // each extra frame costs exactly one encode + encode_frame
    encoder->encode(g_input, g_latent);
    EncodeParams p;
    p.ensemble_size = uint8_t(s);
    p.bits = kBits;
    p.shape = kOut;
    p.bounds = quant::bounds_from_ensemble(unsigned(s));
    p.bound_mode = wire::BoundMode::from_ensemble_size;
    p.frame_id = uint32_t(f);
    auto n = encode_frame(g_latent, p, g_frame, sizeof(g_frame));
    if (!n) return fail(n.error());
    bytes = *n;
  }
  // The frame's trailing CRC-32C stands for its bytes (and keeps the work observable).
  const uint8_t* crc = g_frame + bytes - 4;
  std::printf("frames %d, s %d, %zu bytes, crc32c %02x%02x%02x%02x\n", frames, s, bytes, crc[3], crc[2], crc[1],
              crc[0]);
  return 0;
}
