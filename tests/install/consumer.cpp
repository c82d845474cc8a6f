// A user program: includes the umbrella header, round-trips one tensor through a frame, checks the result.
#include <slimcodec/slimcodec.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  constexpr size_t kC = 2, kH = 8, kW = 9, kN = kC * kH * kW;
  std::vector<float> x(kN);
  for (size_t i = 0; i < kN; ++i) x[i] = std::sin(0.37f * float(i));
  std::vector<uint8_t> frame(slimcodec::max_frame_size(kN, 8));
  slimcodec::EncodeParams params{1, 4, {kC, kH, kW}, slimcodec::quant::Bounds{-1.f, 1.f}, 7, 0};
  auto written = slimcodec::encode_frame(x.data(), params, frame.data(), frame.size());
  if (!written) return std::printf("encode failed: %s\n", written.error().what()), 1;
  std::vector<float> y(kN);
  auto parsed = slimcodec::decode_frame(frame.data(), *written, y.data(), y.size());
  if (!parsed) return std::printf("decode failed: %s\n", parsed.error().what()), 1;
  const float half_step = 1.f / 15.f;
  for (size_t i = 0; i < kN; ++i)
    if (std::fabs(x[i] - y[i]) > half_step + 1e-6f) return std::printf("value %zu off\n", i), 1;
  std::printf("consumer ok: %zu-byte frame, id %u\n", *written, unsigned(parsed->frame_id));
  return 0;
}
