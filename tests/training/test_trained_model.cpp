// The trained weights from the training pipeline (training/, docs/training.md) load unchanged into the C++ encoder
// and reconstructor and decode a real photo end to end: PNG -> preprocess -> s members -> quantize + wire frame
// -> parse + dequantize -> reconstructor. Checked against what PyTorch computed on the same photo with the same
// file (tests/training/data/e2e_reference.safetensors, written by `training/train.py run --publish`).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/codec.hpp>
#include <slimcodec/io/image.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/quant/bound_rules.hpp>
#include <slimcodec/weights/safetensors.hpp>
#include <slimcodec/weights/to_float.hpp>

using namespace slimcodec;
using weights::SafeTensorsFile;

namespace {

const std::string kRepo = std::string(SLIMCODEC_TEST_DATA_DIR) + "/..";
const std::string kFixture = std::string(SLIMCODEC_TEST_DATA_DIR) + "/training/data/e2e_reference.safetensors";

SafeTensorsFile open_file(const std::string& path) {
  std::string context;
  auto f = SafeTensorsFile::open(path, &context);
  INFO(context);
  REQUIRE(f);
  return std::move(f.value());
}

std::string meta(const SafeTensorsFile& f, const char* key) {
  auto v = f.metadata_value(key);
  INFO(key);
  REQUIRE(v);
  return std::string(*v);
}

std::vector<float> tensor_as_float(const SafeTensorsFile& f, const std::string& name, size_t n) {
  auto t = f.find(name);
  INFO(name);
  REQUIRE(t);
  REQUIRE(t->numel() == n);
  std::vector<float> out(n);
  REQUIRE(weights::to_float(*t, out.data(), n));
  return out;
}

double mean_square(const std::vector<float>& a) {
  double s = 0;
  for (float v : a) s += double(v) * v;
  return s / double(a.size());
}

double mse(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s / double(a.size());
}

}  // namespace

TEST_CASE("trained weights decode a real photo end to end like PyTorch") {
  const SafeTensorsFile fixture = open_file(kFixture);
  const SafeTensorsFile weights = open_file(kRepo + "/" + meta(fixture, "weights"));
  int side[2] = {0, 0};
  REQUIRE(std::sscanf(meta(fixture, "encoder_input").c_str(), "[%d, %d]", &side[0], &side[1]) == 2);
  const int h = side[0], w = side[1];

  auto enc = model::Encoder<layers::paper::Encoder>::create(h, w);
  REQUIRE(enc);
  auto loaded = enc->load(weights, "encoder");
  INFO(loaded.error().what());
  REQUIRE(loaded);
  auto rec = model::Reconstructor<layers::paper::Reconstructor>::create(h / 4, w / 4);
  REQUIRE(rec);
  auto loaded_rec = rec->load(weights, "reconstructor");
  INFO(loaded_rec.error().what());
  REQUIRE(loaded_rec);

  auto img = io::load_image(kRepo + "/" + meta(fixture, "photo"));
  REQUIRE(img);
  std::vector<float> input(size_t(enc->in_shape().size()));
  REQUIRE(io::preprocess_rgb_u8(img->pixels.data(), img->width, img->height, img->row_stride(), input.data(),
                                size_t(h), size_t(w)));

  const size_t n = size_t(enc->out_shape().size());
  std::vector<std::vector<float>> latent(5);
  for (int s = 1; s <= 4; ++s) {
    REQUIRE(enc->set_active(s));
    latent[s].resize(n);
    enc->encode(input.data(), latent[s].data());
    const auto want = tensor_as_float(fixture, "latent_s" + std::to_string(s), n);
    float err = 0, scale = 1;
    for (size_t i = 0; i < n; ++i) {
      err = std::max(err, std::fabs(latent[s][i] - want[i]));
      scale = std::max(scale, std::fabs(want[i]));
    }
    INFO("s=" << s << " max |C++ - PyTorch| " << err << " at scale " << scale);
    REQUIRE(err <= 1e-3f * scale);  // float32 both sides; preprocess and summation order differ slightly
  }

  const auto tap = tensor_as_float(fixture, "teacher_tap", size_t(rec->out_shape().size()));
  const double tap_ms = mean_square(tap);
  const std::pair<int, int> checked[] = {{1, 2}, {2, 3}, {4, 4}};
  for (const auto& [s, b] : checked) {
    INFO("s=" << s << " b=" << b);
    EncodeParams p;
    p.ensemble_size = uint8_t(s);
    p.bits = uint8_t(b);
    p.shape = {uint16_t(enc->out_shape().c), uint16_t(enc->out_shape().h), uint16_t(enc->out_shape().w)};
    p.bounds = quant::bounds_from_ensemble(unsigned(s));
    p.bound_mode = wire::BoundMode::from_ensemble_size;
    std::vector<uint8_t> frame(max_frame_size(n, unsigned(b)));
    auto size = encode_frame(latent[s].data(), p, frame.data(), frame.size());
    REQUIRE(size);
    REQUIRE(*size == 52 + (n * size_t(b) + 7) / 8);

    std::vector<float> z(n);
    auto header = decode_frame(frame.data(), *size, z.data(), z.size());
    REQUIRE(header);
    REQUIRE(header->ensemble_size == s);
    REQUIRE(header->bits == b);

    // Codes: a value within float rounding of a decision boundary may land one code apart, nothing more.
    const auto want_codes = fixture.find("codes_s" + std::to_string(s) + "_b" + std::to_string(b));
    REQUIRE(want_codes);
    REQUIRE(want_codes->numel() == n);
    const auto* wc = static_cast<const uint8_t*>(want_codes->data);
    const float step = (p.bounds.hi - p.bounds.lo) / float((1u << b) - 1u);
    size_t off_by_one = 0;
    for (size_t i = 0; i < n; ++i) {
      const long code = std::lround((z[i] - p.bounds.lo) / step);
      REQUIRE(std::labs(code - long(wc[i])) <= 1);
      off_by_one += code != long(wc[i]);
    }
    CAPTURE(off_by_one);
    REQUIRE(off_by_one <= std::max<size_t>(2, n / 1000));

    std::vector<float> y(size_t(rec->out_shape().size()));
    rec->run(z.data(), y.data());
    // The reconstruction is as close to the teacher's tap as PyTorch's was.
    const double nmse = mse(y, tap) / tap_ms;
    const std::string key = "nmse_s" + std::to_string(s) + "_b" + std::to_string(b);
    const double want_nmse = std::stod(meta(fixture, key.c_str()));
    CAPTURE(nmse, want_nmse);
    REQUIRE(std::fabs(nmse - want_nmse) <= 2e-3 + 1e-2 * want_nmse);
    if (s == 4 && b == 4) {
      const auto want = tensor_as_float(fixture, "features_s4_b4", y.size());
      const double rel = std::sqrt(mse(y, want) / mean_square(want));
      CAPTURE(rel);
      REQUIRE(rel <= 2e-3);  // the fixture is stored as float16 (~5e-4 relative)
    }
  }
}

TEST_CASE("trained weights refuse a mismatched model") {
  const SafeTensorsFile fixture = open_file(kFixture);
  const SafeTensorsFile weights = open_file(kRepo + "/" + meta(fixture, "weights"));
  // The reconstructor's tensors are not an encoder's, and a missing prefix finds nothing.
  auto enc = model::Encoder<layers::paper::Encoder>::create(64, 64);
  REQUIRE(enc);
  REQUIRE_FALSE(enc->load(weights, "reconstructor"));
  REQUIRE_FALSE(enc->load(weights, "decoder"));
}

TEST_CASE("the accuracy table measured with these weights loads into the controller") {
  const SafeTensorsFile fixture = open_file(kFixture);
  auto table = device::load_accuracy_table(kRepo + "/" + meta(fixture, "table"));
  INFO(table.error().what());
  REQUIRE(table);
  REQUIRE(table->metric == "mAP@[.5:.95]");
  REQUIRE(table->configurations.size() == 16);
  for (unsigned s = 1; s <= 4; ++s)
    for (unsigned b = 1; b <= 4; ++b) {
      const device::AccuracyEntry* e = table->find(s, b);
      REQUIRE(e != nullptr);
      REQUIRE(e->accuracy >= 0.0);
      REQUIRE(e->accuracy <= 100.0);
    }
}
