// Network / Encoder: weight loading (all-or-nothing, error propagation, unexpected tensors), active size,
// deterministic random init, threaded members, and invalid sizes.
#include <catch2/catch.hpp>

#include <vector>

#include "kernels/test_util.hpp"
#include "layers/map_source.hpp"
#include <slimcodec/layers/layers.hpp>
#include <slimcodec/model/encoder.hpp>

using namespace slimcodec;
using namespace slimcodec::layers;

namespace {
using SmallMember = Sequential<Conv2D<3, 4, 3, 2>, FusedMBConv<4, 4, 3, 1, 2>, FusedMBConv<4, 6, 3, 2, 2>>;
using SmallEncoder = Ensemble<SmallMember, 4>;
}  // namespace

TEST_CASE("load binds every tensor and the network then computes the reference", "[model][load]") {
  test::RandomSource src(3);
  auto enc = model::Encoder<SmallEncoder>::create(16, 12);
  REQUIRE(enc);
  REQUIRE(enc->load(src, ""));
  CHECK(src.stored.tensors.size() == SmallEncoder::kTensors);
  const auto x = test::random_vector(3 * 16 * 12, 4);
  const size_t n = size_t(enc->out_shape().size());
  std::vector<float> got(n), want(n);
  for (int s = 1; s <= 4; ++s) {
    REQUIRE(enc->set_active(s));
    CHECK(enc->active() == s);
    enc->encode(x.data(), got.data());
    SmallEncoder::forward_reference(enc->weights(), enc->in_shape(), x.data(), want.data(), s);
    REQUIRE(test::max_abs_diff(got.data(), want.data(), n) <= 1e-4f * std::max(1.f, test::max_abs(want.data(), n)));
  }
}

TEST_CASE("load errors: missing, misshapen and unexpected tensors; weights unchanged on failure", "[model][load]") {
  test::RandomSource rnd(9);
  auto enc = model::Encoder<SmallEncoder>::create(8, 8);
  REQUIRE(enc);
  REQUIRE(enc->load(rnd, "enc."));
  test::MapSource good = rnd.stored;
  const auto before = enc->weights()[2];

  SECTION("a missing tensor propagates the source's error") {
    test::MapSource src = good;
    src.tensors.erase("enc.members.2.stages.1.se.expand.bias");
    test::RandomSource other(10);
    auto e2 = model::Encoder<SmallEncoder>::create(8, 8);
    REQUIRE(e2->load(other, "enc."));
    const auto snapshot = e2->weights();
    const Result<void> r = e2->load(src, "enc.");
    CHECK(r.code() == Errc::tensor_missing);
    // All-or-nothing: the failed load changed nothing.
    CHECK(std::memcmp(&snapshot, &e2->weights(), sizeof(snapshot)) == 0);
  }
  SECTION("a wrong shape propagates tensor_shape_mismatch") {
    test::MapSource src = good;
    src.tensors["enc.members.0.stages.0.conv.weight"].shape = {4, 3, 3, 2};
    CHECK(enc->load(src, "enc.").code() == Errc::tensor_shape_mismatch);
  }
  SECTION("an extra tensor under the prefix is tensor_unexpected") {
    test::MapSource src = good;
    src.tensors["enc.members.0.stages.9.conv.weight"] = {{1}, {0.f}};
    CHECK(enc->load(src, "enc.").code() == Errc::tensor_unexpected);
    // Tensors outside the prefix are not counted.
    test::MapSource src2 = good;
    src2.tensors["reconstructor.stages.0.conv.weight"] = {{1}, {0.f}};
    CHECK(enc->load(src2, "enc."));
  }
  SECTION("the prefix gains a dot when it lacks one") {
    CHECK(enc->load(good, "enc"));
    CHECK(std::memcmp(&before, &enc->weights()[2], sizeof(before)) == 0);
  }
}

TEST_CASE("set_active range, init_random determinism, invalid sizes", "[model]") {
  auto enc = model::Encoder<SmallEncoder>::create(8, 8);
  REQUIRE(enc);
  CHECK(enc->active() == 4);
  CHECK(enc->set_active(0).code() == Errc::ensemble_out_of_range);
  CHECK(enc->set_active(5).code() == Errc::ensemble_out_of_range);
  CHECK(enc->active() == 4);

  auto a = model::Network<SmallEncoder>::create(8, 8);
  auto b = model::Network<SmallEncoder>::create(8, 8);
  a->init_random(42);
  b->init_random(42);
  CHECK(std::memcmp(&a->weights(), &b->weights(), sizeof(SmallEncoder::Weights)) == 0);
  b->init_random(43);
  CHECK(std::memcmp(&a->weights(), &b->weights(), sizeof(SmallEncoder::Weights)) != 0);

  CHECK(model::Network<SmallEncoder>::create(0, 8).code() == Errc::shape_out_of_range);
  CHECK(model::Network<SmallEncoder>::create(8, -1).code() == Errc::shape_out_of_range);
  CHECK(model::Network<SmallEncoder>::create(100000, 8).code() == Errc::shape_out_of_range);
}

TEST_CASE("members on several threads give the single-thread result", "[model][threads]") {
  auto enc = model::Encoder<SmallEncoder>::create(20, 24);
  REQUIRE(enc);
  enc->init_random(7);
  const auto x = test::random_vector(3 * 20 * 24, 8);
  const size_t n = size_t(enc->out_shape().size());
  CHECK(enc->set_threads(0).code() == Errc::invalid_argument);
  CHECK(enc->set_threads(5).code() == Errc::invalid_argument);
  for (int threads : {2, 3, 4}) {
    for (int s = 1; s <= 4; ++s) {
      CAPTURE(threads, s);
      std::vector<float> one(n), many(n);
      REQUIRE(enc->set_threads(1));
      REQUIRE(enc->set_active(s));
      enc->encode(x.data(), one.data());
      REQUIRE(enc->set_threads(threads));
      CHECK(enc->threads() == threads);
      enc->encode(x.data(), many.data());
      enc->encode(x.data(), many.data());  // the pool is reusable
      // Same members, summed in another order: equal up to float rounding.
      REQUIRE(test::max_abs_diff(one.data(), many.data(), n) <= 1e-5f * std::max(1.f, test::max_abs(one.data(), n)));
    }
  }
}
