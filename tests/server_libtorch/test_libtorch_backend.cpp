// The LibTorch backend runs the exported TorchScript reconstructor; it must agree with the native backend on
// the same weights (tolerance: 1e-4 of the output scale, as the parity tests use).
#include <slimcodec/server/libtorch.hpp>
#include <slimcodec/server/builtin.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace slimcodec;

namespace {

float max_abs(const float* x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

}  // namespace

TEST_CASE("LibTorch and native backends agree on the same weights") {
  server::BackendRegistry registry;
  server::register_builtin_backends(registry);
  REQUIRE(server::register_libtorch_backend(registry));
  REQUIRE_FALSE(server::register_libtorch_backend(registry));  // the name is taken
  auto torch_backend = registry.create("libtorch", {{"module", SLIMCODEC_MODELS_DIR "/reconstructor.pt"}, {"threads", "1"}});
  REQUIRE(torch_backend);
  auto native = registry.create("native", {{"weights", SLIMCODEC_TEST_DATA_DIR "/data/reconstructor_weights.safetensors"}});
  REQUIRE(native);

  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (const Shape shape : {Shape{6, 12, 12}, Shape{6, 20, 16}}) {
    std::vector<float> x(shape.size());
    for (auto& v : x) v = normal(rng);
    auto a = (*torch_backend)->decode(x.data(), shape);
    REQUIRE(a);
    const std::vector<float> torch_out(a->features.data, a->features.data + a->features.shape.size());
    const Shape torch_shape = a->features.shape;
    auto b = (*native)->decode(x.data(), shape);
    REQUIRE(b);
    REQUIRE(torch_shape == b->features.shape);
    REQUIRE(torch_shape == Shape{24, 2 * shape.h, 2 * shape.w});
    float max_err = 0;
    for (size_t i = 0; i < torch_out.size(); ++i) max_err = std::max(max_err, std::fabs(torch_out[i] - b->features.data[i]));
    const float scale = std::max(1.f, max_abs(torch_out.data(), torch_out.size()));
    INFO("max abs difference " << max_err << " at output scale " << scale);
    REQUIRE(max_err <= 1e-4f * scale);
  }
}

TEST_CASE("LibTorch backend errors are typed") {
  server::BackendRegistry registry;
  REQUIRE(server::register_libtorch_backend(registry));
  REQUIRE(registry.create("libtorch", {}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("libtorch", {{"module", "/nonexistent.pt"}}).code() == Errc::io_error);
  auto backend = registry.create("libtorch", {{"module", SLIMCODEC_MODELS_DIR "/reconstructor.pt"}});
  REQUIRE(backend);
  std::vector<float> wrong(5 * 8 * 8, 0.f);  // 5 channels: the module's first conv wants 6
  REQUIRE((*backend)->decode(wrong.data(), {5, 8, 8}).code() == Errc::backend_failed);
}
