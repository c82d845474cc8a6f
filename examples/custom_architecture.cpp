// A custom slimmable encoder in a few lines: a 2-member ensemble of a 3-stage member, its budget printed from
// constexpr values, then one random frame encoded at each active size.
#include <cmath>
#include <cstdio>
#include <vector>

#include <slimcodec/layers/layers.hpp>
#include <slimcodec/model/encoder.hpp>

using namespace slimcodec::layers;

using MyMember = Sequential<Conv2D<3, 8, 3, 2>,          // 3 x H x W -> 8 x H/2 x W/2
                            FusedMBConv<8, 8, 3, 1, 2>,  // residual block
                            FusedMBConv<8, 4, 3, 2, 4>>; // -> 4 x H/4 x W/4
using MyEncoder = Ensemble<MyMember, 2>;
constexpr Shape kIn{3, 128, 160};

static_assert(MyEncoder::out_shape(kIn) == Shape{4, 32, 40});
constexpr auto kBytes = slimcodec::model::Network<MyEncoder>::memory_bytes(kIn);  // weights + scratch

int main() {
  const Shape out = MyEncoder::out_shape(kIn);
  std::printf("input %lldx%lldx%lld -> output %lldx%lldx%lld\n", (long long)kIn.c, (long long)kIn.h,
              (long long)kIn.w, (long long)out.c, (long long)out.h, (long long)out.w);
  std::printf("parameters %lld (per member %lld), memory %zu bytes\n", (long long)MyEncoder::params(),
              (long long)MyMember::params(), kBytes);
  auto enc = slimcodec::model::Encoder<MyEncoder>::create(int(kIn.h), int(kIn.w));
  if (!enc) return std::printf("create failed: %s\n", enc.error().what()), 1;
  enc->init_random(2024);
  std::vector<float> frame(size_t(kIn.size())), code(size_t(out.size()));
  SplitMix64(7).fill(frame.data(), frame.size(), -1.f, 1.f);
  for (int s = 1; s <= MyEncoder::kMembers; ++s) {
    (void)enc->set_active(s);
    enc->encode(frame.data(), code.data());
    double sq = 0;
    for (float v : code) sq += double(v) * v;
    std::printf("s=%d: %lld MACs, output rms %.4f\n", s, (long long)MyEncoder::macs(kIn, s), std::sqrt(sq / code.size()));
  }
}
