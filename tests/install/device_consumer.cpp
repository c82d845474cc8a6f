// A device-only user program (links slimcodec::device alone: no Asio, MQTT or LibTorch): the paper's encoder
// member as a layer spec, and a stand-in encoder framed by FrameEncoder at every b, parsed back by the core.
#include <slimcodec/device.hpp>

#include <cstdio>
#include <vector>

namespace {

// A stand-in for model::Encoder: out_shape() 2 x 4 x 8, the output a ramp scaled by s.
struct RampEncoder {
  struct Out {
    int64_t c = 2, h = 4, w = 8;
  };
  unsigned active = 1;
  slimcodec::Result<void> set_active(int s) {
    if (s < 1 || s > 4) return slimcodec::Errc::invalid_argument;
    active = unsigned(s);
    return {};
  }
  void encode(const float*, float* out) {
    for (int i = 0; i < 64; ++i) out[i] = float(active) * (float(i) / 64.f - 0.5f);
  }
  Out out_shape() const { return {}; }
};

}  // namespace

int main() {
  static_assert(slimcodec::layers::paper::Member::params() == 6597, "the paper's member as a type");
  RampEncoder encoder;
  slimcodec::device::FrameEncoder<RampEncoder> frames(encoder);
  const std::vector<float> input(3 * 16 * 32, 0.f);
  std::vector<float> decoded(frames.values());
  for (unsigned b = 1; b <= 8; ++b) {
    auto frame = frames.encode(input.data(), 2, b, b, 1000 * b);
    if (!frame) return std::printf("encode at b=%u failed: %s\n", b, frame.error().what()), 1;
    auto header = slimcodec::decode_frame(frame->data, frame->size, decoded.data(), decoded.size());
    if (!header) return std::printf("decode at b=%u failed: %s\n", b, header.error().what()), 1;
    if (header->bits != b || header->ensemble_size != 2 || header->frame_id != b)
      return std::printf("header at b=%u does not echo its inputs\n", b), 1;
  }
  // Out-of-range inputs come back as typed errors.
  if (frames.encode(input.data(), 2, 9, 0, 0)) return std::printf("b=9 accepted\n"), 1;
  if (frames.encode(input.data(), 5, 4, 0, 0)) return std::printf("s=5 accepted\n"), 1;
  std::printf("device consumer ok: %zu values, b = 1..8\n", frames.values());
  return 0;
}
