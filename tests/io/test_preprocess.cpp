// preprocess_rgb_u8: parity with the PyTorch preprocess fixture, strided and cropped camera buffers, edge sizes,
// argument errors, and no write past the output.
#include <catch2/catch.hpp>

#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using namespace slimcodec;
using slimcodec::io::preprocess_rgb_u8;

namespace {

constexpr size_t kW = 53, kH = 37;  // the fixture image

weights::SafeTensorsFile load_fixture() {
  auto f = weights::SafeTensorsFile::open(std::string(SLIMCODEC_TEST_DATA_DIR) + "/data/preprocess_parity.safetensors");
  REQUIRE(f.ok());
  return std::move(f).value();
}

std::vector<uint8_t> fixture_rgb(const weights::SafeTensorsFile& f) {
  auto t = f.find("rgb");
  REQUIRE(t.ok());
  REQUIRE(t->dtype == weights::DType::U8);
  REQUIRE(t->rank == 3);
  REQUIRE((t->shape[0] == int64_t(kH) && t->shape[1] == int64_t(kW) && t->shape[2] == 3));
  const auto* p = static_cast<const uint8_t*>(t->data);
  return std::vector<uint8_t>(p, p + t->nbytes);
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0.f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

float normalized(uint8_t v, int c) { return (float(v) / 255.f - io::kImageNetMean[c]) / io::kImageNetStd[c]; }

}  // namespace

TEST_CASE("preprocess: matches the PyTorch reference (downscale, upscale, identity)") {
  const auto f = load_fixture();
  const auto rgb = fixture_rgb(f);
  struct Case { size_t h, w; const char* name; };
  for (const Case c : {Case{24, 32, "out_24x32"}, Case{50, 70, "out_50x70"}, Case{37, 53, "out_37x53"}}) {
    const int64_t shape[] = {3, int64_t(c.h), int64_t(c.w)};
    auto want = f.tensor_f32(c.name, shape, 3);
    REQUIRE(want.ok());
    std::vector<float> got(3 * c.h * c.w);
    REQUIRE(preprocess_rgb_u8(rgb.data(), kW, kH, 3 * kW, got.data(), c.h, c.w).ok());
    const float err = max_abs_diff(got.data(), *want, got.size());
    INFO(c.name << ": max abs error " << err);
    CHECK(err <= 1e-4f);
  }
}

TEST_CASE("preprocess: matches the reference at camera width (640 -> 384), where coordinate precision shows") {
  const auto f = load_fixture();
  auto img = f.find("rgb_wide");
  REQUIRE(img.ok());
  REQUIRE((img->rank == 3 && img->shape[0] == 160 && img->shape[1] == 640 && img->shape[2] == 3));
  auto want = f.tensor_f32("out_wide_64x384", {3, 64, 384});
  REQUIRE(want.ok());
  std::vector<float> got(3 * 64 * 384);
  REQUIRE(preprocess_rgb_u8(static_cast<const uint8_t*>(img->data), 640, 160, 3 * 640, got.data(), 64, 384).ok());
  const float err = max_abs_diff(got.data(), *want, got.size());
  INFO("max abs error " << err);
  CHECK(err <= 1e-4f);  // the documented contract
  // Taps are computed in double, leaving only float rounding of the blend (~1e-6); float32 source coordinates
  // would give ~7e-5 on this strip.
  CHECK(err <= 1e-5f);
}

TEST_CASE("preprocess: strided and cropped camera buffers give the same result as a tight copy") {
  const auto rgb = fixture_rgb(load_fixture());
  std::vector<float> tight(3 * 24 * 32), strided(tight.size());
  REQUIRE(preprocess_rgb_u8(rgb.data(), kW, kH, 3 * kW, tight.data(), 24, 32).ok());

  SECTION("row padding filled with garbage") {
    const size_t stride = 3 * kW + 13;
    std::vector<uint8_t> padded(stride * kH, 0xEE);
    for (size_t y = 0; y < kH; ++y) std::memcpy(&padded[y * stride], &rgb[y * 3 * kW], 3 * kW);
    REQUIRE(preprocess_rgb_u8(padded.data(), kW, kH, stride, strided.data(), 24, 32).ok());
    CHECK(std::memcmp(tight.data(), strided.data(), tight.size() * sizeof(float)) == 0);
  }
  SECTION("a window of a larger frame") {
    const size_t big_w = 80, big_h = 50, x0 = 11, y0 = 7;
    std::vector<uint8_t> frame(3 * big_w * big_h, 0x00);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = uint8_t(i * 31);
    for (size_t y = 0; y < kH; ++y) std::memcpy(&frame[((y0 + y) * big_w + x0) * 3], &rgb[y * 3 * kW], 3 * kW);
    REQUIRE(preprocess_rgb_u8(&frame[(y0 * big_w + x0) * 3], kW, kH, 3 * big_w, strided.data(), 24, 32).ok());
    CHECK(std::memcmp(tight.data(), strided.data(), tight.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("preprocess: closed-form cases") {
  SECTION("identity size reproduces every pixel") {
    const auto rgb = fixture_rgb(load_fixture());
    std::vector<float> out(3 * kH * kW);
    REQUIRE(preprocess_rgb_u8(rgb.data(), kW, kH, 3 * kW, out.data(), kH, kW).ok());
    float err = 0.f;
    for (size_t c = 0; c < 3; ++c)
      for (size_t i = 0; i < kH * kW; ++i)
        err = std::max(err, std::fabs(out[c * kH * kW + i] - normalized(rgb[i * 3 + c], int(c))));
    CHECK(err <= 2e-6f);
  }
  SECTION("a constant image stays constant at any size, including 1x1 in or out") {
    for (const auto& s : {std::pair<size_t, size_t>{1, 1}, {7, 3}, {300, 5}, {2, 640}}) {
      for (const auto& in : {std::pair<size_t, size_t>{1, 1}, {5, 9}, {37, 53}}) {
        std::vector<uint8_t> img(3 * in.first * in.second);
        for (size_t i = 0; i < img.size(); i += 3) img[i] = 10, img[i + 1] = 128, img[i + 2] = 250;
        std::vector<float> out(3 * s.first * s.second);
        REQUIRE(preprocess_rgb_u8(img.data(), in.second, in.first, 3 * in.second, out.data(), s.first, s.second).ok());
        const uint8_t v[3] = {10, 128, 250};
        for (size_t c = 0; c < 3; ++c)
          for (size_t i = 0; i < s.first * s.second; ++i)
            REQUIRE(std::fabs(out[c * s.first * s.second + i] - normalized(v[c], int(c))) <= 2e-6f);
      }
    }
  }
  SECTION("2x upscale of a horizontal ramp: half-pixel centres give quarter steps, edges clamp") {
    // One row 0, 100, 200 -> 6 columns at src = -0.25 (clamped 0), 0.25, 0.75, 1.25, 1.75, 2.25 (tap clamped).
    const uint8_t row[9] = {0, 0, 0, 100, 100, 100, 200, 200, 200};
    float out[3 * 6];
    REQUIRE(preprocess_rgb_u8(row, 3, 1, 9, out, 1, 6).ok());
    const float want[6] = {0, 25, 75, 125, 175, 200};
    for (int x = 0; x < 6; ++x)
      CHECK(std::fabs(out[x] - (want[x] / 255.f - io::kImageNetMean[0]) / io::kImageNetStd[0]) <= 2e-6f);
  }
}

TEST_CASE("preprocess: writes exactly 3 * out_h * out_w floats") {
  const auto rgb = fixture_rgb(load_fixture());
  const size_t n = 3 * 17 * 65;  // 65 columns: one full column tile of 64 plus one
  std::vector<float> out(n + 64, -12345.f);
  REQUIRE(preprocess_rgb_u8(rgb.data(), kW, kH, 3 * kW, out.data(), 17, 65).ok());
  CHECK(std::count(out.begin(), out.begin() + long(n), -12345.f) == 0);
  CHECK(std::all_of(out.begin() + long(n), out.end(), [](float v) { return v == -12345.f; }));
}

TEST_CASE("preprocess: argument errors") {
  uint8_t px[12] = {};
  float out[12];
  CHECK(preprocess_rgb_u8(nullptr, 2, 2, 6, out, 2, 2).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 2, 2, 6, nullptr, 2, 2).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 0, 2, 6, out, 2, 2).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 2, 0, 6, out, 2, 2).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 2, 2, 6, out, 0, 2).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 2, 2, 6, out, 2, 0).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 2, 2, 5, out, 2, 2).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, io::kMaxPreprocessDim + 1, 1, 1u << 20, out, 1, 1).code() == Errc::invalid_argument);
  CHECK(preprocess_rgb_u8(px, 2, 2, 6, out, 2, 2).ok());
}
