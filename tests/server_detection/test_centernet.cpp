// CenterNet decoding in C++ gives PyTorch's detections (training/slimtrain/centernet.py, what evaluation uses) on
// the same maps: tests/server_detection/data/centernet_maps.safetensors, written by make_centernet_fixture.py.
#include <slimcodec/server/centernet.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace slimcodec;
using server::CenterNetDecoder;
using server::CenterNetParams;
using server::Detection;

namespace {

constexpr size_t kC = 84, kH = 8, kW = 10;
// Tolerances: scores are copied (exact); boxes are one float subtraction like PyTorch's, but the compiler may
// contract centre * stride - extent into one FMA, so allow a few ulp of the 40-pixel values.
constexpr float kBoxTol = 1e-4f;

struct Case {
  std::vector<float> maps;
  std::vector<float> want;  // 100 x 6: x1, y1, x2, y2, score, class (best first)
};

Case load(const std::string& name) {
  std::string context;
  auto file = weights::SafeTensorsFile::open(SLIMCODEC_TEST_DATA_DIR "/server_detection/data/centernet_maps.safetensors", &context);
  INFO(context);
  REQUIRE(file);
  auto maps = file->tensor_f32(name + "_maps", {int64_t(kC), int64_t(kH), int64_t(kW)});
  REQUIRE(maps);
  auto det = file->tensor_f32(name + "_detections", {100, 6});
  REQUIRE(det);
  return {std::vector<float>(*maps, *maps + kC * kH * kW), std::vector<float>(*det, *det + 600)};
}

// The detections PyTorch returns that pass the threshold: a prefix of its best-first list, cut at top_k.
size_t expected_count(const Case& c, float threshold, size_t top_k) {
  size_t n = 0;
  while (n < 100 && n < top_k && c.want[6 * n + 4] >= threshold) ++n;
  return n;
}

void check_same(const Case& c, const std::vector<Detection>& got, size_t n, float sx = 1, float sy = 1) {
  for (size_t i = 0; i < n; ++i) {
    const float* w = &c.want[6 * i];
    INFO("detection " << i << ": PyTorch class " << w[5] << " score " << w[4]);
    REQUIRE(got[i].class_id == uint16_t(w[5]));
    REQUIRE(got[i].score == w[4]);
    REQUIRE(std::fabs(got[i].x1 - w[0] * sx) <= kBoxTol * sx);
    REQUIRE(std::fabs(got[i].y1 - w[1] * sy) <= kBoxTol * sy);
    REQUIRE(std::fabs(got[i].x2 - w[2] * sx) <= kBoxTol * sx);
    REQUIRE(std::fabs(got[i].y2 - w[3] * sy) <= kBoxTol * sy);
  }
}

}  // namespace

TEST_CASE("CenterNet decoding matches PyTorch's on the same maps") {
  CenterNetDecoder decoder;
  for (const char* name : {"smooth", "ties"}) {
    const Case c = load(name);
    for (float threshold : {0.05f, 0.5f, 0.8f, 0.95f}) {
      for (size_t top_k : {size_t(100), size_t(7), size_t(1)}) {
        INFO(name << ", threshold " << threshold << ", top_k " << top_k);
        CenterNetParams p;
        p.score_threshold = threshold;
        p.top_k = top_k;
        std::vector<Detection> got(100);
        auto n = decoder.decode(c.maps.data(), kC, kH, kW, p, got.data(), got.size());
        REQUIRE(n);
        REQUIRE(*n == expected_count(c, threshold, top_k));
        check_same(c, got, *n);
      }
    }
  }
}

TEST_CASE("CenterNet decoding scales boxes to the device's frame and respects the output capacity") {
  CenterNetDecoder decoder;
  const Case c = load("smooth");
  CenterNetParams p;
  p.score_threshold = 0.5f;
  p.scale_x = 768.f / 40.f;  // a 768 x 480 frame seen by a 40 x 32 model input (10 x 8 maps, stride 4)
  p.scale_y = 480.f / 32.f;
  std::vector<Detection> got(100);
  auto n = decoder.decode(c.maps.data(), kC, kH, kW, p, got.data(), got.size());
  REQUIRE(n);
  REQUIRE(*n == expected_count(c, 0.5f, 100));
  check_same(c, got, *n, p.scale_x, p.scale_y);

  std::vector<Detection> small(3);
  auto m = decoder.decode(c.maps.data(), kC, kH, kW, p, small.data(), small.size());
  REQUIRE(m);
  REQUIRE(*m == 3);
  for (size_t i = 0; i < 3; ++i) REQUIRE(small[i].score == got[i].score);
  REQUIRE(*decoder.decode(c.maps.data(), kC, kH, kW, p, nullptr, 0) == 0);
}

TEST_CASE("CenterNet decoding: a plateau gives one peak per cell, the lower index first") {
  // Two classes, 3 x 3 maps: class 1 has a flat 2 x 1 plateau at 0.7 (both cells equal the 3x3 max, so both are
  // peaks, as with PyTorch's kp == max_pool(kp)); class 0 has one 0.7 peak at (2, 2), whose index is larger.
  std::vector<float> m(6 * 9, 0.f);
  m[1 * 9 + 0 * 3 + 0] = 0.7f;
  m[1 * 9 + 0 * 3 + 1] = 0.7f;
  m[0 * 9 + 2 * 3 + 2] = 0.7f;
  m[0 * 9 + 2 * 3 + 1] = 0.9f;  // class 0's real maximum next to it: (2, 2) is then no peak
  for (size_t i = 0; i < 9; ++i) m[2 * 9 + i] = 1.f;  // l
  CenterNetParams p;
  p.classes = 2;
  CenterNetDecoder decoder;
  std::vector<Detection> got(10);
  auto n = decoder.decode(m.data(), 6, 3, 3, p, got.data(), got.size());
  REQUIRE(n);
  REQUIRE(*n == 3);
  REQUIRE((got[0].class_id == 0 && got[0].score == 0.9f));
  REQUIRE((got[1].class_id == 1 && got[1].x1 == -1.f));  // (0, 0): x = 0 * 4 - 1
  REQUIRE((got[2].class_id == 1 && got[2].x1 == 3.f));   // (0, 1)
}

TEST_CASE("CenterNet decoding rejects bad arguments and skips non-finite values") {
  CenterNetDecoder decoder;
  std::vector<float> m(84 * 4, 0.f);
  std::vector<Detection> out(10);
  CenterNetParams p;
  REQUIRE(decoder.decode(nullptr, 84, 2, 2, p, out.data(), 10).code() == Errc::invalid_argument);
  REQUIRE(decoder.decode(m.data(), 84, 2, 2, p, nullptr, 10).code() == Errc::invalid_argument);
  REQUIRE(decoder.decode(m.data(), 83, 2, 2, p, out.data(), 10).code() == Errc::shape_out_of_range);
  REQUIRE(decoder.decode(m.data(), 84, 0, 2, p, out.data(), 10).code() == Errc::shape_out_of_range);
  for (auto bad : {0.f, -1.f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    CenterNetParams q;
    q.score_threshold = bad;
    REQUIRE(decoder.decode(m.data(), 84, 2, 2, q, out.data(), 10).code() == Errc::invalid_argument);
    q = CenterNetParams{};
    q.scale_x = bad;
    REQUIRE(decoder.decode(m.data(), 84, 2, 2, q, out.data(), 10).code() == Errc::invalid_argument);
  }
  CenterNetParams q;
  q.top_k = 101;
  REQUIRE(decoder.decode(m.data(), 84, 2, 2, q, out.data(), 10).code() == Errc::invalid_argument);

  // A NaN heatmap value is never a peak; a peak with a NaN extent is skipped; its neighbours still count.
  m[0] = std::numeric_limits<float>::quiet_NaN();
  m[4 + 1] = 0.5f;                                            // class 1 at (0, 1)
  m[4 * 2 + 2] = 0.6f;                                        // class 2 at (1, 0)
  m[80 * 4 + 2] = std::numeric_limits<float>::infinity();     // l at (1, 0)
  auto n = decoder.decode(m.data(), 84, 2, 2, p, out.data(), 10);
  REQUIRE(n);
  REQUIRE(*n == 1);
  REQUIRE((out[0].class_id == 1 && out[0].score == 0.5f));
}
