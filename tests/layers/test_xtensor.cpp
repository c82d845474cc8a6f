// The xtensor front door: same numbers as the pointer API, shape errors as Result, in-place outputs.
#include <catch2/catch.hpp>

#include <vector>

#include <slimcodec/layers/layers.hpp>
#include <slimcodec/model/xtensor_api.hpp>

using namespace slimcodec;
using namespace slimcodec::layers;

TEST_CASE("encode/run on xt::xtensor match the pointer API and check shapes", "[model][xtensor]") {
  using Enc = Ensemble<Sequential<Conv2D<3, 4, 3, 2>, FusedMBConv<4, 4, 3, 1, 2>>, 2>;
  auto enc = model::Encoder<Enc>::create(10, 12);
  REQUIRE(enc);
  enc->init_random(3);
  xt::xtensor<float, 3> in = xt::xtensor<float, 3>::from_shape({3, 10, 12});
  SplitMix64(4).fill(in.data(), in.size(), -1.f, 1.f);
  xt::xtensor<float, 3> out;  // wrong shape: resized
  REQUIRE(model::encode(*enc, in, out));
  CHECK(out.shape()[0] == 4);
  CHECK(out.shape()[1] == 5);
  CHECK(out.shape()[2] == 6);
  std::vector<float> ref(out.size());
  enc->encode(in.data(), ref.data());
  CHECK(std::equal(ref.begin(), ref.end(), out.begin()));
  const float* before = out.data();
  REQUIRE(model::run(*enc, in, out));  // right shape: written in place
  CHECK(out.data() == before);

  xt::xtensor<float, 3> wrong = xt::xtensor<float, 3>::from_shape({3, 12, 10});
  CHECK(model::encode(*enc, wrong, out).code() == Errc::shape_out_of_range);
}
