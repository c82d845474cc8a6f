// The detection backends: the native reconstructor feeding the LibTorch teacher tail ("detect-native") and the
// all-TorchScript server side ("detect-torchscript") compute the same 84 maps from the same bottleneck, and the
// detections each reports are CenterNet decoding of the maps it returned. Models: CMakeLists.txt exports them
// from SLIMCODEC_DETECTION_WEIGHTS at the teacher input SLIMCODEC_DETECTION_INPUT.
#include <slimcodec/server/detection.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using namespace slimcodec;

namespace {

const server::BackendOptions kNative{{"weights", SLIMCODEC_DETECTION_WEIGHTS},
                                     {"tail", SLIMCODEC_DETECTION_DIR "/teacher_tail.pt"},
                                     {"threads", "1"}};
const server::BackendOptions kTorchScript{{"module", SLIMCODEC_DETECTION_DIR "/server.pt"}, {"threads", "1"}};
constexpr size_t kSide = SLIMCODEC_DETECTION_INPUT / 8;  // bottleneck side: the encoder sees half the input, / 4

}  // namespace

TEST_CASE("detection backends: native reconstructor + LibTorch tail agrees with the TorchScript server side") {
  server::BackendRegistry registry;  // not the global one
  REQUIRE(server::register_detection_backends(registry));
  REQUIRE_FALSE(server::register_detection_backends(registry));  // names taken
  auto native = registry.create("detect-native", kNative);
  INFO((native ? "" : native.error().what()));
  REQUIRE(native);
  auto script = registry.create("detect-torchscript", kTorchScript);
  INFO((script ? "" : script.error().what()));
  REQUIRE(script);
  REQUIRE((*native)->name() == "detect-native");
  REQUIRE((*script)->name() == "detect-torchscript");

  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.f, 1.f);
  const Shape shape{6, kSide, kSide};
  std::vector<float> z(shape.size());
  for (auto& v : z) v = normal(rng);

  auto a = (*native)->decode(z.data(), shape);
  REQUIRE(a);
  const std::vector<float> maps_a(a->features.data, a->features.data + a->features.shape.size());
  const server::Detections det_a = (*native)->detections();
  auto b = (*script)->decode(z.data(), shape);
  REQUIRE(b);
  const server::Detections det_b = (*script)->detections();
  const Shape out{84, 2 * kSide, 2 * kSide};
  REQUIRE(a->features.shape == out);
  REQUIRE(b->features.shape == out);

  // Maps: heatmaps are probabilities; box extents are pixels of a 512 input. The native reconstructor differs from
  // PyTorch's by float rounding (parity tests: 1e-4 of the scale), which the tail carries on.
  const size_t plane = size_t(out.plane());
  float heat = 0, ext = 0, ext_scale = 0;
  for (size_t i = 0; i < maps_a.size(); ++i) {
    const float d = std::fabs(maps_a[i] - b->features.data[i]);
    if (i < 80 * plane) {
      heat = std::max(heat, d);
    } else {
      ext = std::max(ext, d);
      ext_scale = std::max(ext_scale, std::fabs(b->features.data[i]));
    }
  }
  INFO("max |heatmap diff| " << heat << ", max |extent diff| " << ext << " of " << ext_scale);
  REQUIRE(heat <= 1e-3f);
  REQUIRE(ext <= 1e-3f * std::max(1.f, ext_scale));

  // Each backend's detections are the decoding of its own maps.
  server::CenterNetDecoder decoder;
  std::vector<server::Detection> want(server::kMaxDetections);
  auto n = decoder.decode(b->features.data, 84, size_t(out.h), size_t(out.w), server::CenterNetParams{}, want.data(), want.size());
  REQUIRE(n);
  REQUIRE(det_b.count == *n);
  for (size_t i = 0; i < *n; ++i) {
    REQUIRE(det_b.data[i].class_id == want[i].class_id);
    REQUIRE(det_b.data[i].score == want[i].score);
    REQUIRE(det_b.data[i].x1 == want[i].x1);
    REQUIRE(det_b.data[i].y2 == want[i].y2);
  }
  // And the two agree: each of TorchScript's 5 best is among the native path's detections (near-equal scores may
  // swap places).
  for (size_t i = 0; i < std::min<size_t>(5, det_b.count); ++i) {
    const auto& d = det_b.data[i];
    INFO("TorchScript detection " << i << ": class " << d.class_id << " score " << d.score);
    const bool found = std::any_of(det_a.data, det_a.data + det_a.count, [&](const server::Detection& g) {
      return g.class_id == d.class_id && std::fabs(g.score - d.score) <= 1e-3f && std::fabs(g.x1 - d.x1) <= 0.05f &&
             std::fabs(g.y1 - d.y1) <= 0.05f && std::fabs(g.x2 - d.x2) <= 0.05f && std::fabs(g.y2 - d.y2) <= 0.05f;
    });
    REQUIRE(found);
  }
}

TEST_CASE("detection backends: options and inputs are checked, nothing throws") {
  server::BackendRegistry registry;
  REQUIRE(server::register_detection_backends(registry));
  REQUIRE(registry.create("detect-native", {{"tail", "x.pt"}}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("detect-native", {{"weights", SLIMCODEC_DETECTION_WEIGHTS}}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("detect-torchscript", {}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("detect-torchscript", {{"module", "/nonexistent/server.pt"}}).code() == Errc::io_error);
  for (const char* bad : {"0", "-0.5", "1.5", "nan", "0.3x", ""}) {
    auto o = kTorchScript;
    o["score_threshold"] = bad;
    INFO(bad);
    REQUIRE(registry.create("detect-torchscript", o).code() == Errc::invalid_argument);
  }
  auto o = kTorchScript;
  o["top_k"] = "101";
  REQUIRE(registry.create("detect-torchscript", o).code() == Errc::invalid_argument);

  o = kTorchScript;
  o["score_threshold"] = "0.3";
  o["top_k"] = "5";
  auto script = registry.create("detect-torchscript", o);
  REQUIRE(script);
  std::vector<float> z(6 * kSide * kSide, 0.5f);
  auto wrong = (*script)->decode(z.data(), Shape{3, kSide, 2 * kSide});  // the module wants 6 channels
  REQUIRE(wrong.code() == Errc::backend_failed);
  REQUIRE((*script)->detections().count == 0);
  auto ok = (*script)->decode(z.data(), Shape{6, kSide, kSide});
  REQUIRE(ok);
  const auto d = (*script)->detections();
  REQUIRE(d.count <= 5);
  for (size_t i = 0; i < d.count; ++i) REQUIRE(d.data[i].score >= 0.3f);

  auto native = registry.create("detect-native", kNative);
  REQUIRE(native);
  REQUIRE((*native)->decode(z.data(), Shape{5, kSide, kSide}).code() == Errc::shape_out_of_range);
}
