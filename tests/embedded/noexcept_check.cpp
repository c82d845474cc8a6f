// Built with -fno-exceptions -fno-rtti: includes every core header a device uses, then runs the paths a board
// runs (weights from the file and from the generated header, encode at s = 1..4, frame round trip) and checks
// them. Exits non-zero on any difference. Usage: embedded_noexcept_check <tests/data directory>
#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/device/bandwidth.hpp>
#include <slimcodec/device/calibration.hpp>
#include <slimcodec/device/controller.hpp>
#include <slimcodec/device/device_loop.hpp>
#include <slimcodec/device/frame_encoder.hpp>
#include <slimcodec/device/frame_transport.hpp>
#include <emulation/link_trace.hpp>
#include <slimcodec/device/operating_points.hpp>
#include <emulation/trace_simulation.hpp>
#include <slimcodec/server/native.hpp>
#include <slimcodec/io/file.hpp>
#include <slimcodec/io/image.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/layers.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/model.hpp>
#include <slimcodec/slimcodec.hpp>
#include <slimcodec/weights/safetensors.hpp>
#include <support/safetensors_writer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "encoder_weights.hpp"

#if defined(__cpp_exceptions) || defined(__GXX_RTTI)
#error "noexcept_check.cpp must be built with -fno-exceptions -fno-rtti"
#endif

namespace {

using namespace slimcodec;
using PaperEncoder = model::Encoder<layers::paper::Encoder>;

int failed(const char* what, const char* detail = "") {
  std::fprintf(stderr, "noexcept check: %s %s\n", what, detail);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return failed("usage: embedded_noexcept_check <tests/data directory>");
  const std::string dir = argv[1];
  auto file = weights::SafeTensorsFile::open(dir + "/encoder_weights.safetensors");
  auto parity = weights::SafeTensorsFile::open(dir + "/encoder_parity_64.safetensors");
  if (!file || !parity) return failed("cannot read the fixtures in", argv[1]);

  auto a = PaperEncoder::create(64, 64), b = PaperEncoder::create(64, 64);
  if (!a || !b) return failed("create");
  if (!a->load(*file, "") || !b->load(encoder_weights::kSource, "")) return failed("load");
  const int64_t in_shape[3] = {3, 64, 64}, out_shape[3] = {6, 16, 16};
  auto x = parity->tensor_f32("input", in_shape, 3);
  if (!x) return failed("fixture input");

  std::vector<float> ya(6 * 16 * 16), yb(ya.size()), back(ya.size());
  std::vector<uint8_t> frame(max_frame_size(ya.size(), 8));
  for (int s = 1; s <= 4; ++s) {
    if (!a->set_active(s) || !b->set_active(s)) return failed("set_active");
    a->encode(x.value(), ya.data());
    b->encode(x.value(), yb.data());
    if (std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)) != 0) return failed("file and header differ");
    auto want = parity->tensor_f32("output_s" + std::to_string(s), out_shape, 3);
    if (!want) return failed("fixture output");
    float err = 0, scale = 1;
    for (size_t i = 0; i < ya.size(); ++i) {
      err = std::max(err, std::fabs(ya[i] - want.value()[i]));
      scale = std::max(scale, std::fabs(want.value()[i]));
    }
    if (!(err <= 1e-4f * scale)) return failed("parity bound exceeded");  // tests/layers' bound

    EncodeParams p;
    p.ensemble_size = uint8_t(s);
    p.bits = 8;
    p.shape = {6, 16, 16};
    p.bounds = quant::bounds_from_ensemble(unsigned(s));
    auto n = encode_frame(ya.data(), p, frame.data(), frame.size());
    if (!n) return failed("encode_frame", n.error().what());
    auto h = decode_frame(frame.data(), *n, back.data(), back.size());
    if (!h || h->ensemble_size != s) return failed("decode_frame");
    const float half_step = 0.5f * (p.bounds.hi - p.bounds.lo) / 255.f;
    for (size_t i = 0; i < ya.size(); ++i) {
      const float clamped = std::min(std::max(ya[i], p.bounds.lo), p.bounds.hi);
      if (!(std::fabs(back[i] - clamped) <= half_step * 1.001f)) return failed("frame round trip");
    }
  }
  std::puts("noexcept check ok: -fno-exceptions -fno-rtti, s = 1..4, file == header, frame round trip");
  return 0;
}
