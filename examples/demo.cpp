// The slimcodec demo: one real photo through all 16 operating points of the trained model. For each (s, b):
// encode on the "device", quantize and frame, parse on the "server", reconstruct the teacher's feature map with
// the native reconstructor, and print the cost, the tap NMSE against the teacher's own map of this photo, and the
// held-out mAP that docs/accuracy-*.json measured for that (s, b).
// Usage: demo [weights.safetensors] [image.(png|jpg)]   (NMSE needs the photo of the weights' e2e fixture)
#define SLIMCODEC_IMAGE_IMPLEMENTATION
#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/io/image.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/slimcodec.hpp>
#include <slimcodec/weights/to_float.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

namespace {

using namespace slimcodec;
using Clock = std::chrono::steady_clock;
const std::string kRepo = SLIMCODEC_SOURCE_DIR;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int fail(const std::string& what, const Error& e) { return std::fprintf(stderr, "%s: %s\n", what.c_str(), e.what()), 1; }

std::string meta(const weights::SafeTensorsFile& f, const char* key) {
  auto v = f.metadata_value(key);
  return v ? std::string(*v) : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string weights_path = argc > 1 ? argv[1] : kRepo + "/" SLIMCODEC_TRAINED_WEIGHTS;
  const std::string fixture_path = kRepo + "/tests/training/data/e2e_reference.safetensors";
  auto file = weights::SafeTensorsFile::open(weights_path);
  if (!file) return fail(weights_path, file.error());
  auto fixture = weights::SafeTensorsFile::open(fixture_path);
  if (!fixture) return fail(fixture_path, fixture.error());
  // The fixture holds the teacher's tap of its photo, for the weights it was written for.
  const bool same_weights = kRepo + "/" + meta(*fixture, "weights") == weights_path;
  const std::string image_path = argc > 2 ? argv[2] : kRepo + "/" + meta(*fixture, "photo");
  const bool have_reference = same_weights && image_path == kRepo + "/" + meta(*fixture, "photo");
  int h = 0, w = 0;
  if (std::sscanf(meta(*file, "student_input").c_str(), "[%d, %d]", &h, &w) != 2) h = w = 256;

  auto image = io::load_image(image_path);
  if (!image) return fail(image_path, image.error());
  std::vector<float> input(size_t(3) * h * w), latent(size_t(6) * (h / 4) * (w / 4)), dequantized(latent.size());
  if (auto ok = io::preprocess_image(*image, input.data(), h, w); !ok) return fail("preprocess", ok.error());
  auto encoder = model::Encoder<layers::paper::Encoder>::create(h, w);
  if (!encoder) return fail("encoder", encoder.error());
  if (auto ok = encoder->load(*file, "encoder"); !ok) return fail("encoder weights", ok.error());
  server::BackendRegistry backends;
  server::register_builtin_backends(backends);
  auto decoder = backends.create("native", {{"weights", weights_path}});
  if (!decoder) return fail("reconstructor", decoder.error());
  auto table = device::load_accuracy_table(kRepo + "/" + meta(*fixture, "table"));

  std::vector<float> tap(size_t(24) * (h / 2) * (w / 2));
  double tap_ms = 0;
  if (auto t = fixture->find("teacher_tap"); have_reference && t && t->numel() == tap.size()) {
    (void)weights::to_float(*t, tap.data(), tap.size());
    for (float v : tap) tap_ms += double(v) * v / double(tap.size());
  }
  std::printf("slimcodec demo: %s (%zux%zu) -> 3x%dx%d -> encoder -> 6x%dx%d -> frame -> reconstructor -> 24x%dx%d\n"
              "weights: %s (%s, trained on %s)\n", image_path.c_str(), image->width, image->height, h, w, h / 4, w / 4,
              h / 2, w / 2, weights_path.c_str(), meta(*file, "preset").c_str(), meta(*file, "teacher").c_str());
  std::printf("tap NMSE: against the teacher's own map of this photo%s; mAP: %s\n\n",
              tap_ms > 0 ? "" : " (not available for this photo or weights)",
              table ? (table->metric + " on the held-out set, " + meta(*fixture, "table")).c_str() : "no table");

  std::vector<uint8_t> frame(max_frame_size(latent.size(), 8));
  std::printf("%2s %2s %10s %9s %10s %9s %8s\n", "s", "b", "encode ms", "frame B", "decode ms", "tap NMSE", "mAP");
  for (int s = 1; s <= 4; ++s) {
    if (auto ok = encoder->set_active(s); !ok) return fail("set_active", ok.error());
    for (uint8_t b = 1; b <= 4; ++b) {
      const auto t0 = Clock::now();
      encoder->encode(input.data(), latent.data());
      EncodeParams p{uint8_t(s), b, {6, uint16_t(h / 4), uint16_t(w / 4)}, quant::bounds_from_ensemble(s),
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
      double err = 0;
      for (size_t i = 0; i < tap.size() && tap_ms > 0; ++i) {
        const double d = double(out->features.data[i]) - tap[i];
        err += d * d / double(tap.size());
      }
      const auto* acc = table ? table->find(unsigned(s), b) : nullptr;
      std::printf("%2d %2u %10.2f %9zu %10.1f %9.3f %8.1f\n", s, unsigned(b), encode_ms, *size, decode_ms,
                  tap_ms > 0 ? err / tap_ms : NAN, acc ? acc->accuracy : NAN);
    }
  }
  return 0;
}
