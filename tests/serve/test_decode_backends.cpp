// Decoder backends: registry lookup by name, callback plumbing, timing, errors, and the reply record.
#include <slimcodec/decode/callback.hpp>
#include <slimcodec/serve/reply.hpp>

#include <catch2/catch.hpp>

#include <cmath>

#include <thread>

using namespace slimcodec;

TEST_CASE("registry creates backends by name and rejects unknown names") {
  auto& registry = decode::BackendRegistry::global();
  auto names = registry.names();
  REQUIRE(std::find(names.begin(), names.end(), "identity") != names.end());
  auto unknown = registry.create("no-such-backend");
  REQUIRE_FALSE(unknown);
  REQUIRE(unknown.code() == Errc::backend_unknown);
  REQUIRE_FALSE(registry.add("identity", decode::make_identity_backend));  // first registration wins

  auto identity = registry.create("identity");
  REQUIRE(identity);
  const std::vector<float> x = {1.f, -2.f, 3.5f, 0.f, 7.f, 8.f};
  auto out = (*identity)->decode(x.data(), {1, 2, 3});
  REQUIRE(out);
  REQUIRE(out->features.shape == decode::TensorShape{1, 2, 3});
  REQUIRE(std::equal(x.begin(), x.end(), out->features.data));
  REQUIRE((*identity)->decode(nullptr, {1, 2, 3}).code() == Errc::invalid_argument);
}

TEST_CASE("a callback backend is one line to register and reports its time and errors") {
  const bool added = decode::BackendRegistry::global().add("test-double", [](const decode::BackendOptions& opts) {
    const float gain = opts.count("gain") ? std::stof(opts.at("gain")) : 1.f;
    return Result<std::unique_ptr<decode::DecoderBackend>>(std::make_unique<decode::CallbackBackend>(
        "test-double", [gain](const float* in, decode::TensorShape s, std::vector<float>& out,
                              decode::TensorShape& out_shape) -> Result<void> {
          if (s.channels != 2) return Error{Errc::backend_failed, "wants 2 channels"};
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          out.resize(s.size() * 4);  // 2x upsampling, nearest
          out_shape = {s.channels, s.height * 2, s.width * 2};
          for (size_t c = 0; c < s.channels; ++c)
            for (size_t y = 0; y < 2 * s.height; ++y)
              for (size_t x = 0; x < 2 * s.width; ++x)
                out[(c * 2 * s.height + y) * 2 * s.width + x] = gain * in[(c * s.height + y / 2) * s.width + x / 2];
          return {};
        }));
  });
  REQUIRE(added);
  auto backend = decode::BackendRegistry::global().create("test-double", {{"gain", "2"}});
  REQUIRE(backend);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  auto out = (*backend)->decode(x.data(), {2, 2, 2});
  REQUIRE(out);
  REQUIRE(out->features.shape == decode::TensorShape{2, 4, 4});
  REQUIRE(out->features.data[0] == 2.f);
  REQUIRE(out->features.data[3] == 4.f);
  REQUIRE(out->features.data[16] == 10.f);
  REQUIRE(out->decode_ms >= 4.0);
  auto bad = (*backend)->decode(x.data(), {1, 2, 4});
  REQUIRE(bad.code() == Errc::backend_failed);
}

TEST_CASE("reply records round-trip and reject corruption") {
  serve::Reply r;
  r.status = Errc::ok;
  r.frame_id = 0xDEADBEEF;
  r.decode_us = 1234;
  r.timestamp_us = 0x0102030405060708ull;
  r.digest = 0xFEDCBA9876543210ull;
  r.out_channels = 24;
  r.out_height = 192;
  r.out_width = 191;
  auto bytes = serve::write_reply(r);
  REQUIRE(bytes[0] == 'S');
  REQUIRE(bytes[8] == 0xEF);  // little-endian frame id
  auto back = serve::parse_reply(bytes.data(), bytes.size());
  REQUIRE(back);
  REQUIRE(back->frame_id == r.frame_id);
  REQUIRE(back->decode_us == r.decode_us);
  REQUIRE(back->timestamp_us == r.timestamp_us);
  REQUIRE(back->digest == r.digest);
  REQUIRE(back->out_width == 191);
  REQUIRE(serve::parse_reply(bytes.data(), serve::kReplySize - 1).code() == Errc::truncated);
  for (size_t i = 0; i < serve::kReplySize; ++i) {
    auto corrupt = bytes;
    corrupt[i] ^= 0x10;
    REQUIRE_FALSE(serve::parse_reply(corrupt.data(), corrupt.size()));
  }
  const float a[3] = {1.f, 2.f, 3.f}, b[3] = {1.f, 2.f, 3.0000002f};
  REQUIRE(serve::digest_features(a, 3) != serve::digest_features(b, 3));
}

// ------------------------------ native backend

#include <slimcodec/decode/native.hpp>

TEST_CASE("native backend reconstructs like the PyTorch reference, from a safetensors file") {
  const std::string dir = SLIMCODEC_TEST_DATA_DIR "/data/";
  auto parity = weights::SafeTensorsFile::open(dir + "reconstructor_parity.safetensors");
  REQUIRE(parity);
  auto input = parity->tensor_f32("input", {6, 12, 12});
  auto expected = parity->tensor_f32("output", {24, 24, 24});
  REQUIRE(input);
  REQUIRE(expected);

  auto backend = decode::BackendRegistry::global().create(
      "native", {{"weights", dir + "reconstructor_weights.safetensors"}});
  REQUIRE(backend);
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second call reuses the network built by the first
    auto out = (*backend)->decode(*input, {6, 12, 12});
    REQUIRE(out);
    REQUIRE(out->features.shape == decode::TensorShape{24, 24, 24});
    float max_ref = 0, max_err = 0;
    for (size_t i = 0; i < out->features.shape.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs((*expected)[i]));
      max_err = std::max(max_err, std::fabs(out->features.data[i] - (*expected)[i]));
    }
    INFO("max abs error " << max_err << ", output scale " << max_ref);
    REQUIRE(max_err <= 1e-4f * std::max(1.f, max_ref));
  }
  // A different frame size rebuilds the network and keeps the weights.
  std::vector<float> other(6 * 8 * 10, 0.25f);
  auto resized = (*backend)->decode(other.data(), {6, 8, 10});
  REQUIRE(resized);
  REQUIRE(resized->features.shape == decode::TensorShape{24, 16, 20});
  REQUIRE((*backend)->decode(other.data(), {5, 8, 12}).code() == Errc::shape_out_of_range);
}

TEST_CASE("native backend reports bad options and bad weight files") {
  auto& registry = decode::BackendRegistry::global();
  REQUIRE(registry.create("native", {}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("native", {{"weights", "/nonexistent.safetensors"}}).code() == Errc::io_error);
  // The encoder's weights are not a reconstructor's.
  auto wrong = registry.create("native", {{"weights", SLIMCODEC_TEST_DATA_DIR "/data/encoder_weights.safetensors"}});
  REQUIRE_FALSE(wrong);
  REQUIRE(registry.create("native", {{"random_seed", "3"}}));
}
