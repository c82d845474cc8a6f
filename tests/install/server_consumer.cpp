// A server-only user program (links slimcodec::server alone: no Asio, MQTT or LibTorch): a frame decoded by the
// core and handed to an application's own backend.
#include <slimcodec/server.hpp>

#include <cstdio>
#include <vector>

namespace {

// Doubles every value: the application's own runtime behind the DecoderBackend interface.
class Doubler final : public slimcodec::server::DecoderBackend {
 public:
  std::string_view name() const override { return "doubler"; }

 protected:
  slimcodec::Result<slimcodec::server::FeatureMap> run(const float* in, slimcodec::Shape shape) override {
    out_.assign(in, in + shape.size());
    for (float& v : out_) v *= 2;
    return slimcodec::server::FeatureMap{out_.data(), shape};
  }

 private:
  std::vector<float> out_;
};

}  // namespace

int main() {
  constexpr size_t kN = 3 * 5 * 7;
  std::vector<float> x(kN);
  for (size_t i = 0; i < kN; ++i) x[i] = float(i % 9) / 8.f - 0.5f;
  std::vector<uint8_t> frame(slimcodec::max_frame_size(kN, 8));
  slimcodec::EncodeParams params{1, 8, {3, 5, 7}, slimcodec::quant::Bounds{-1.f, 1.f}, 3, 0};
  auto written = slimcodec::encode_frame(x.data(), params, frame.data(), frame.size());
  if (!written) return std::printf("encode failed: %s\n", written.error().what()), 1;
  std::vector<float> y(kN);
  auto header = slimcodec::decode_frame(frame.data(), *written, y.data(), y.size());
  if (!header) return std::printf("decode failed: %s\n", header.error().what()), 1;
  const slimcodec::Shape shape{header->channels, header->height, header->width};
  Doubler backend;
  auto decoded = backend.decode(y.data(), shape);
  if (!decoded) return std::printf("backend failed: %s\n", decoded.error().what()), 1;
  for (size_t i = 0; i < kN; ++i)
    if (decoded->features.data[i] != 2 * y[i]) return std::printf("value %zu off\n", i), 1;
  if (backend.decode(nullptr, shape)) return std::printf("null input accepted\n"), 1;
  std::printf("server consumer ok: %zu values through the backend\n", kN);
  return 0;
}
