// load_image / decode_image: PNG and JPEG fixtures against the pixels Python wrote, end-to-end preprocess parity,
// and clean errors for missing, empty, corrupt, truncated, oversized and unsupported files.
#include <catch2/catch.hpp>

#include <slimcodec/io/file.hpp>
#include <slimcodec/io/image.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::io;

namespace {

std::string data_path(const char* name) { return std::string(SLIMCODEC_TEST_DATA_DIR) + "/data/" + name; }

weights::SafeTensorsFile parity() {
  auto f = weights::SafeTensorsFile::open(data_path("preprocess_parity.safetensors"));
  REQUIRE(f.ok());
  return std::move(f).value();
}

std::vector<uint8_t> reference_rgb(const weights::SafeTensorsFile& f) {
  auto t = f.find("rgb");
  REQUIRE(t.ok());
  const auto* p = static_cast<const uint8_t*>(t->data);
  return std::vector<uint8_t>(p, p + t->nbytes);
}

std::vector<uint8_t> file_bytes(const char* name) {
  auto b = read_file(data_path(name), size_t(1) << 20);
  REQUIRE(b.ok());
  return std::move(b).value();
}

}  // namespace

TEST_CASE("image: PNG decodes to exactly the pixels Python wrote, and preprocesses to the reference") {
  const auto f = parity();
  auto img = load_image(data_path("preprocess_rgb.png"));
  REQUIRE(img.ok());
  CHECK(img->width == 53);
  CHECK(img->height == 37);
  CHECK(img->channels == 3);
  CHECK(img->pixels == reference_rgb(f));

  std::vector<float> out(3 * 24 * 32);
  REQUIRE(preprocess_image(*img, out.data(), 24, 32).ok());
  const float* want = f.tensor_f32("out_24x32", {3, 24, 32}).value();
  float err = 0.f;
  for (size_t i = 0; i < out.size(); ++i) err = std::max(err, std::fabs(out[i] - want[i]));
  INFO("max abs error " << err);
  CHECK(err <= 1e-4f);
}

TEST_CASE("image: JPEG decodes like libjpeg does, and close to the original pixels") {
  const auto f = parity();
  const auto ref = reference_rgb(f);
  auto libjpeg = f.find("jpeg_decoded");  // the same file decoded by PIL (libjpeg) when the fixtures were made
  REQUIRE(libjpeg.ok());
  const auto* lj = static_cast<const uint8_t*>(libjpeg->data);
  auto img = load_image(data_path("preprocess_rgb.jpg"));
  REQUIRE(img.ok());
  REQUIRE(img->width == 53);
  REQUIRE(img->height == 37);
  REQUIRE(img->pixels.size() == ref.size());
  REQUIRE(libjpeg->nbytes == ref.size());
  double vs_libjpeg = 0, vs_original = 0;
  int worst_libjpeg = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const int d = std::abs(int(img->pixels[i]) - int(lj[i]));
    vs_libjpeg += d;
    worst_libjpeg = std::max(worst_libjpeg, d);
    vs_original += std::abs(int(img->pixels[i]) - int(ref[i]));
  }
  vs_libjpeg /= double(ref.size());
  vs_original /= double(ref.size());
  INFO("vs libjpeg: mean abs " << vs_libjpeg << ", max " << worst_libjpeg << "; vs original: mean abs " << vs_original);
  // Two IDCT implementations differ by rounding only; a colour-order, stride or orientation slip gives tens.
  CHECK(worst_libjpeg <= 3);
  CHECK(vs_libjpeg < 0.5);
  CHECK(vs_original < 5.0);  // q95 on a noisy synthetic image: JPEG loss itself is ~3 levels on average
}

TEST_CASE("image: channel conversion") {
  const auto png = file_bytes("preprocess_rgb.png");
  auto gray = decode_image(png.data(), png.size(), 1);
  REQUIRE(gray.ok());
  CHECK(gray->channels == 1);
  CHECK(gray->pixels.size() == 53 * 37);
  auto rgba = decode_image(png.data(), png.size(), 4);
  REQUIRE(rgba.ok());
  CHECK(rgba->channels == 4);
  CHECK(rgba->pixels[3] == 255);
  auto own = decode_image(png.data(), png.size(), 0);
  REQUIRE(own.ok());
  CHECK(own->channels == 3);
  CHECK(decode_image(png.data(), png.size(), 5).code() == Errc::invalid_argument);
  std::vector<float> out(3 * 4 * 4);
  CHECK(preprocess_image(*gray, out.data(), 4, 4).code() == Errc::invalid_argument);
}

TEST_CASE("image: errors") {
  SECTION("missing file") {
    CHECK(load_image("/nonexistent/slimcodec/photo.jpg").code() == Errc::io_error);
  }
  SECTION("empty file") {
    const std::string path = "slimcodec_test_empty.png";
    REQUIRE(write_file(path, nullptr, 0).ok());
    CHECK(load_image(path).code() == Errc::image_invalid);
    std::remove(path.c_str());
  }
  SECTION("corrupt file") {
    std::vector<uint8_t> junk(4096);
    std::mt19937 rng(5);
    for (auto& b : junk) b = uint8_t(rng());
    const std::string path = "slimcodec_test_corrupt.jpg";
    REQUIRE(write_file(path, junk.data(), junk.size()).ok());
    CHECK(load_image(path).code() == Errc::image_invalid);
    std::remove(path.c_str());
    // Right signatures, garbage after them.
    junk[0] = 0x89, junk[1] = 'P', junk[2] = 'N', junk[3] = 'G', junk[4] = 0x0D, junk[5] = 0x0A, junk[6] = 0x1A,
    junk[7] = 0x0A;
    CHECK(decode_image(junk.data(), junk.size()).code() == Errc::image_invalid);
    junk[0] = 0xFF, junk[1] = 0xD8, junk[2] = 0xFF;
    CHECK(decode_image(junk.data(), junk.size()).code() == Errc::image_invalid);
  }
  SECTION("truncated PNG") {
    const auto png = file_bytes("preprocess_rgb.png");
    for (size_t n : {size_t(0), size_t(7), size_t(8), size_t(33), png.size() / 2, png.size() - 13})
      CHECK(decode_image(png.data(), n).code() == Errc::image_invalid);
  }
  SECTION("formats other than JPEG and PNG") {
    const uint8_t bmp[] = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(decode_image(bmp, sizeof bmp).code() == Errc::image_invalid);
  }
  SECTION("pixel limit") {
    const auto png = file_bytes("preprocess_rgb.png");
    CHECK(decode_image(png.data(), png.size(), 3, 53 * 37 - 1).code() == Errc::image_invalid);
    CHECK(decode_image(png.data(), png.size(), 3, 53 * 37).ok());
  }
}

TEST_CASE("image: mutated PNG and JPEG bytes decode or fail cleanly") {
  for (const char* name : {"preprocess_rgb.png", "preprocess_rgb.jpg"}) {
    const auto valid = file_bytes(name);
    std::mt19937 rng(99);
    int decoded = 0;
    for (int i = 0; i < 300; ++i) {
      auto b = valid;
      const int flips = 1 + int(rng() % 4);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
      if (rng() % 4 == 0) b.resize(rng() % b.size());
      auto img = decode_image(b.data(), b.size());
      if (img.ok()) {
        ++decoded;
        REQUIRE(img->pixels.size() == img->width * img->height * 3);
      } else {
        REQUIRE(img.code() == Errc::image_invalid);
      }
    }
    INFO(name << ": " << decoded << " of 300 mutants decoded");
    CHECK(decoded < 300);
  }
}
