// Parity with the PyTorch reference (python/make_fixtures.py): the paper encoder for s = 1..4 at 3x64x64 and
// 3x384x384, member 0 stage by stage, and the reconstructor stage by stage. Bound: max |C++ - ref| <=
// 1e-4 * max(1, max |ref|) (the fixtures are float64 forwards; PyTorch's own float32 lands ~1e-5 away).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "kernels/test_util.hpp"
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/aligned_buffer.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/weights/safetensors.hpp>

using namespace slimcodec;
using layers::Shape;
using weights::SafeTensorsFile;

namespace {

SafeTensorsFile open_fixture(const char* name) {
  std::string context;
  auto f = SafeTensorsFile::open(std::string(SLIMCODEC_TEST_DATA_DIR) + "/data/" + name, &context);
  INFO(context);
  REQUIRE(f);
  return std::move(f.value());
}

const float* fixture_tensor(const SafeTensorsFile& f, const char* name, Shape s) {
  const int64_t shape[3] = {s.c, s.h, s.w};
  auto t = f.tensor_f32(name, shape, 3);
  INFO(name);
  REQUIRE(t);
  return t.value();
}

void require_close(const float* got, const float* want, size_t n, const char* what) {
  INFO(what);
  const float scale = std::max(1.f, test::max_abs(want, n));
  const float err = test::max_abs_diff(got, want, n);
  CAPTURE(err, scale);
  REQUIRE(err <= 1e-4f * scale);
}

// Runs stage I of the Sequential Seq on x and compares with the fixture tensor prefix + I; recurses with the
// fixture's own output as the next input, so each stage is checked in isolation.
template <class Seq, size_t I = 0>
void check_stages(const typename Seq::Weights& w, const SafeTensorsFile& f, const char* prefix, Shape in,
                  const float* x) {
  if constexpr (I < Seq::kStages) {
    using Stage = typename Seq::template Stage<I>;
    const Shape si = Seq::template stage_in_shape<I>(in);
    const Shape so = Stage::out_shape(si);
    std::vector<float> y(size_t(so.size()));
    model::AlignedBuffer scratch(Stage::scratch_bytes(si));
    Stage::forward(kernels::default_arch{}, std::get<I>(w), si, x, y.data(), reinterpret_cast<float*>(scratch.data()));
    const std::string name = prefix + std::to_string(I);
    const float* want = fixture_tensor(f, name.c_str(), so);
    require_close(y.data(), want, y.size(), name.c_str());
    check_stages<Seq, I + 1>(w, f, prefix, in, want);
  }
}

void check_encoder(const char* parity_file, int side) {
  const SafeTensorsFile weights = open_fixture("encoder_weights.safetensors");
  const SafeTensorsFile parity = open_fixture(parity_file);
  auto enc = model::Encoder<layers::paper::Encoder>::create(side, side);
  REQUIRE(enc);
  const Result<void> loaded = enc->load(weights, "");
  INFO(loaded.error().what());
  REQUIRE(loaded);
  const float* x = fixture_tensor(parity, "input", enc->in_shape());
  std::vector<float> y(size_t(enc->out_shape().size()));
  for (int s = 1; s <= 4; ++s) {
    REQUIRE(enc->set_active(s));
    enc->encode(x, y.data());
    const std::string name = "output_s" + std::to_string(s);
    require_close(y.data(), fixture_tensor(parity, name.c_str(), enc->out_shape()), y.size(), name.c_str());
  }
}

}  // namespace

TEST_CASE("paper encoder matches PyTorch at 3x64x64 for s = 1..4", "[parity]") {
  check_encoder("encoder_parity_64.safetensors", 64);
}

TEST_CASE("paper member 0 matches PyTorch stage by stage at 3x64x64", "[parity]") {
  const SafeTensorsFile weights = open_fixture("encoder_weights.safetensors");
  const SafeTensorsFile parity = open_fixture("encoder_parity_64.safetensors");
  auto enc = model::Encoder<layers::paper::Encoder>::create(64, 64);
  REQUIRE(enc);
  REQUIRE(enc->load(weights, ""));
  check_stages<layers::paper::Member>(enc->weights()[0], parity, "member0_stage", enc->in_shape(),
                                      fixture_tensor(parity, "input", enc->in_shape()));
}

TEST_CASE("paper encoder matches PyTorch at full size 3x384x384 for s = 1..4", "[parity][full]") {
  check_encoder("encoder_parity_384.safetensors", 384);
}

TEST_CASE("paper reconstructor matches PyTorch at 6x12x12, whole and stage by stage", "[parity]") {
  using R = layers::paper::Reconstructor;
  const SafeTensorsFile weights = open_fixture("reconstructor_weights.safetensors");
  const SafeTensorsFile parity = open_fixture("reconstructor_parity.safetensors");
  auto rec = model::Reconstructor<R>::create(12, 12);
  REQUIRE(rec);
  const Result<void> loaded = rec->load(weights, "");
  INFO(loaded.error().what());
  REQUIRE(loaded);
  const float* x = fixture_tensor(parity, "input", rec->in_shape());
  std::vector<float> y(size_t(rec->out_shape().size()));
  rec->run(x, y.data());
  require_close(y.data(), fixture_tensor(parity, "output", rec->out_shape()), y.size(), "output");

  // Stage by stage, each from the fixture's previous output.
  check_stages<R>(rec->weights(), parity, "stage", rec->in_shape(), x);
}
