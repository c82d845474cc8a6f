// Peak resident memory of a process that encodes 100 frames with the paper encoder (s = 4, 4 bits): camera frame
// -> preprocess -> encode -> frame. Prints the peak RSS, the RSS before the encoder existed, and the increase
// over that start and the input image buffers (target: <= 8 MiB).
#include <slimcodec/codec.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>

#include <cstdio>
#include <vector>

namespace {

// The process's peak resident set (VmHWM). Not getrusage's ru_maxrss: that survives exec, so a process started
// from a large parent (a Python script, say) would report the parent's peak.
double max_rss_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
  std::fclose(f);
  return kib / 1024.0;
}

}  // namespace

int main() {
  using namespace slimcodec;
  constexpr size_t kCamW = 768, kCamH = 768;
  const double start_mib = max_rss_mib();

  // Input image buffers: a 768x768 RGB camera frame and the 3x384x384 model input.
  std::vector<uint8_t> camera(kCamW * kCamH * 3);
  std::vector<float> input(size_t(layers::paper::kInput.size()));
  for (size_t i = 0; i < camera.size(); ++i) camera[i] = uint8_t(i * 7 + i / 3);
  const double inputs_mib = double(camera.size() + input.size() * sizeof(float)) / (1024.0 * 1024.0);

  auto encoder = model::Encoder<layers::paper::Encoder>::create(384, 384);
  if (!encoder) return std::fprintf(stderr, "%s\n", encoder.error().what()), 1;
  encoder->init_random(1);
  if (!encoder->set_active(4)) return 1;
  std::vector<float> latent(size_t(layers::paper::kLatent.size()));
  std::vector<uint8_t> frame(max_frame_size(latent.size(), 8));

  size_t bytes = 0;
  for (uint32_t id = 0; id < 100; ++id) {
    camera[id] ^= 0xFF;  // a new frame
    if (!io::preprocess_rgb_u8(camera.data(), kCamW, kCamH, kCamW * 3, input.data(), 384, 384)) return 1;
    encoder->encode(input.data(), latent.data());
    EncodeParams p{4, 4, {6, 96, 96}, quant::bounds_from_ensemble(4), id, 0, wire::BoundMode::from_ensemble_size};
    auto n = encode_frame(latent.data(), p, frame.data(), frame.size());
    if (!n) return std::fprintf(stderr, "%s\n", n.error().what()), 1;
    bytes += *n;
  }
  const double peak_mib = max_rss_mib();
  std::printf("{\"frames\": 100, \"frame_bytes\": %zu, \"start_rss_mib\": %.2f, \"input_buffers_mib\": %.2f, "
              "\"peak_rss_mib\": %.2f, \"above_start_and_inputs_mib\": %.2f, \"encoder_memory_mib\": %.2f}\n",
              bytes / 100, start_mib, inputs_mib, peak_mib, peak_mib - start_mib - inputs_mib,
              double(encoder->memory_bytes()) / (1024.0 * 1024.0));
  return 0;
}
