// Decoder backends: registry lookup by name, callback plumbing, errors, option parsing, the native backend's
// limits, the reply record, and the frame pipeline every service feeds. Every test uses a BackendRegistry of its
// own: the built-in backends come from register_builtin_backends, not from which headers this file includes.
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/server/frame_job.hpp>
#include <slimcodec/server/pipeline.hpp>
#include <slimcodec/wire/reply.hpp>

#include <catch2/catch.hpp>

#include "server/test_frames.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>

using namespace slimcodec;

namespace {
// A registry with the built-in backends only.
server::BackendRegistry& builtins() {
  static server::BackendRegistry registry;
  server::register_builtin_backends(registry);
  return registry;
}
}  // namespace

TEST_CASE("the built-in backends are registered explicitly, in the registry given") {
  server::BackendRegistry registry;
  REQUIRE(registry.names().empty());  // nothing registers itself at static initialisation
  REQUIRE(registry.create("identity").code() == Errc::backend_unknown);
  server::register_builtin_backends(registry);
  REQUIRE(registry.names() == std::vector<std::string>{"identity", "native"});
  server::register_builtin_backends(registry);  // idempotent
  REQUIRE(registry.names() == std::vector<std::string>{"identity", "native"});
  REQUIRE(registry.create("identity"));
  REQUIRE(registry.create("native", {{"random_seed", "1"}, {"height", "4"}, {"width", "4"}}));
}

TEST_CASE("registry creates backends by name and rejects unknown names") {
  server::BackendRegistry& registry = builtins();
  auto names = registry.names();
  REQUIRE(std::find(names.begin(), names.end(), "identity") != names.end());
  auto unknown = registry.create("no-such-backend");
  REQUIRE_FALSE(unknown);
  REQUIRE(unknown.code() == Errc::backend_unknown);
  REQUIRE_FALSE(registry.add("identity", server::make_identity_backend));  // first registration wins

  auto identity = registry.create("identity");
  REQUIRE(identity);
  const std::vector<float> x = {1.f, -2.f, 3.5f, 0.f, 7.f, 8.f};
  auto out = (*identity)->decode(x.data(), {1, 2, 3});
  REQUIRE(out);
  REQUIRE(out->features.shape == Shape{1, 2, 3});
  REQUIRE(std::equal(x.begin(), x.end(), out->features.data));
  REQUIRE((*identity)->decode(nullptr, {1, 2, 3}).code() == Errc::invalid_argument);
}

TEST_CASE("a callback backend is one line to register and reports its results and errors") {
  server::BackendRegistry registry;  // local: the global registry stays as the program found it
  const bool added = registry.add("test-double", [](const server::BackendOptions& opts) {
    auto gain = server::option_u64(opts, "gain", 1, 16, "gain must be 1..16");
    if (!gain) return Result<std::unique_ptr<server::DecoderBackend>>(gain.error());
    const float g = float(gain->value_or(1));
    return Result<std::unique_ptr<server::DecoderBackend>>(std::make_unique<server::CallbackBackend>(
        "test-double", [g](const float* in, Shape s, std::vector<float>& out,
                           Shape& out_shape) -> Result<void> {
          if (s.c != 2) return Error{Errc::backend_failed, "wants 2 channels"};
          out.resize(s.size() * 4);  // 2x upsampling, nearest
          out_shape = {s.c, s.h * 2, s.w * 2};
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t y = 0; y < 2 * s.h; ++y)
              for (int64_t x = 0; x < 2 * s.w; ++x)
                out[(c * 2 * s.h + y) * 2 * s.w + x] = g * in[(c * s.h + y / 2) * s.w + x / 2];
          return {};
        }));
  });
  REQUIRE(added);
  REQUIRE(registry.names() == std::vector<std::string>{"test-double"});
  REQUIRE_FALSE(builtins().create("test-double"));  // another registry does not see it
  REQUIRE(registry.create("test-double", {{"gain", "abc"}}).code() == Errc::invalid_argument);
  auto backend = registry.create("test-double", {{"gain", "2"}});
  REQUIRE(backend);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  auto out = (*backend)->decode(x.data(), {2, 2, 2});
  REQUIRE(out);
  REQUIRE(out->features.shape == Shape{2, 4, 4});
  REQUIRE(out->features.data[0] == 2.f);
  REQUIRE(out->features.data[3] == 4.f);
  REQUIRE(out->features.data[16] == 10.f);
  auto bad = (*backend)->decode(x.data(), {1, 2, 4});
  REQUIRE(bad.code() == Errc::backend_failed);
}

TEST_CASE("a callback's output shape must be positive and covered by its output") {
  // (-2) x (-2) x 1 has a positive size (4) that four floats would cover: still not a shape.
  for (const Shape claimed : {Shape{-2, -2, 1}, Shape{0, 4, 1}, Shape{1, 2, 3}}) {
    server::CallbackBackend backend("claims", [claimed](const float*, Shape, std::vector<float>& out, Shape& out_shape) {
      out.assign(4, 1.f);
      out_shape = claimed;
      return Result<void>{};
    });
    const float x[4] = {};
    REQUIRE(backend.decode(x, {1, 2, 2}).code() == Errc::backend_failed);
  }
}

TEST_CASE("reply records round-trip and reject corruption") {
  wire::Reply r;
  r.status = Errc::ok;
  r.frame_id = 0xDEADBEEF;
  r.decode_us = 1234;
  r.timestamp_us = 0x0102030405060708ull;
  r.digest = 0xFEDCBA9876543210ull;
  r.out_channels = 24;
  r.out_height = 192;
  r.out_width = 191;
  auto bytes = wire::write_reply(r);
  REQUIRE(bytes[0] == 'S');
  REQUIRE(bytes[8] == 0xEF);  // little-endian frame id
  auto back = wire::parse_reply(bytes.data(), bytes.size());
  REQUIRE(back);
  REQUIRE(back->frame_id == r.frame_id);
  REQUIRE(back->decode_us == r.decode_us);
  REQUIRE(back->timestamp_us == r.timestamp_us);
  REQUIRE(back->digest == r.digest);
  REQUIRE(back->out_width == 191);
  REQUIRE(wire::parse_reply(bytes.data(), wire::kReplySize - 1).code() == Errc::truncated);
  for (size_t i = 0; i < wire::kReplySize; ++i) {
    auto corrupt = bytes;
    corrupt[i] ^= 0x10;
    REQUIRE_FALSE(wire::parse_reply(corrupt.data(), corrupt.size()));
  }
  const float a[3] = {1.f, 2.f, 3.f}, b[3] = {1.f, 2.f, 3.0000002f};
  REQUIRE(wire::digest_features(a, 3) != wire::digest_features(b, 3));
}

// ------------------------------ native backend

#include <slimcodec/server/native.hpp>

TEST_CASE("native backend reconstructs like the PyTorch reference, from a safetensors file") {
  const std::string dir = SLIMCODEC_TEST_DATA_DIR "/data/";
  auto parity = weights::SafeTensorsFile::open(dir + "reconstructor_parity.safetensors");
  REQUIRE(parity);
  auto input = parity->tensor_f32("input", {6, 12, 12});
  auto expected = parity->tensor_f32("output", {24, 24, 24});
  REQUIRE(input);
  REQUIRE(expected);

  auto backend = builtins().create(
      "native", {{"weights", dir + "reconstructor_weights.safetensors"}});
  REQUIRE(backend);
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second call reuses the network built by the first
    auto out = (*backend)->decode(*input, {6, 12, 12});
    REQUIRE(out);
    REQUIRE(out->features.shape == Shape{24, 24, 24});
    float max_ref = 0, max_err = 0;
    for (int64_t i = 0; i < out->features.shape.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs((*expected)[i]));
      max_err = std::max(max_err, std::fabs(out->features.data[i] - (*expected)[i]));
    }
    INFO("max abs error " << max_err << ", output scale " << max_ref);
    REQUIRE(max_err <= 1e-4f * std::max(1.f, max_ref));
  }
  // Built for the file's size at create() (no metadata: the paper's 96 x 96), so 12 x 12 rebuilt it once.
  auto* native = dynamic_cast<server::NativeBackend<>*>(backend->get());
  REQUIRE(native);
  REQUIRE(native->rebuilds() == 1);
  // A different frame size rebuilds the network and keeps the weights.
  std::vector<float> other(6 * 8 * 10, 0.25f);
  auto resized = (*backend)->decode(other.data(), {6, 8, 10});
  REQUIRE(resized);
  REQUIRE(resized->features.shape == Shape{24, 16, 20});
  REQUIRE((*backend)->decode(other.data(), {5, 8, 12}).code() == Errc::shape_out_of_range);
}

TEST_CASE("native backend reports bad options and bad weight files") {
  auto& registry = builtins();
  REQUIRE(registry.create("native", {}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("native", {{"weights", "/nonexistent.safetensors"}}).code() == Errc::io_error);
  // The encoder's weights are not a reconstructor's.
  auto wrong = registry.create("native", {{"weights", SLIMCODEC_TEST_DATA_DIR "/data/encoder_weights.safetensors"}});
  REQUIRE_FALSE(wrong);
  REQUIRE(registry.create("native", {{"random_seed", "3"}}));
}

TEST_CASE("backend options are parsed without exceptions: bad text, signs and overflow are invalid_argument") {
  const server::BackendOptions o = {{"n", "42"},        {"neg", "-1"},       {"junk", "12abc"}, {"empty", ""},
                                    {"space", " 7"},    {"big", "18446744073709551616"}, {"max", "18446744073709551615"},
                                    {"plus", "+3"}};
  auto n = server::option_u64(o, "n", 0, 100, "n");
  REQUIRE(n);
  REQUIRE(*n == std::optional<uint64_t>{42});
  auto absent = server::option_u64(o, "absent", 0, 100, "absent");
  REQUIRE(absent);
  REQUIRE_FALSE(absent->has_value());
  for (const char* key : {"neg", "junk", "empty", "space", "big", "plus"}) {
    INFO(key);
    auto r = server::option_u64(o, key, 0, UINT64_MAX, "bad");
    REQUIRE(r.code() == Errc::invalid_argument);
    REQUIRE(std::string(r.error().what()) == "bad");
  }
  REQUIRE(server::option_u64(o, "max", 0, UINT64_MAX, "max"));
  REQUIRE(server::option_u64(o, "n", 0, 41, "above max").code() == Errc::invalid_argument);
  REQUIRE(server::option_u64(o, "n", 43, 100, "below min").code() == Errc::invalid_argument);
}

TEST_CASE("native backend: random_seed and max_pixels are checked, not thrown") {
  auto& registry = builtins();
  for (const char* seed : {"abc", "-1", "", "99999999999999999999999", "3x"}) {
    INFO("random_seed=" << seed);
    auto r = registry.create("native", {{"random_seed", seed}});
    REQUIRE(r.code() == Errc::invalid_argument);
    REQUIRE(std::string(r.error().what()).find("random_seed") != std::string::npos);
  }
  REQUIRE(registry.create("native", {{"random_seed", "18446744073709551615"}}));
  REQUIRE(registry.create("native", {{"random_seed", "1"}, {"max_pixels", "0"}}).code() == Errc::invalid_argument);
  REQUIRE(registry.create("native", {{"random_seed", "1"}, {"max_pixels", "huge"}}).code() == Errc::invalid_argument);
}

TEST_CASE("native backend refuses frames above max_pixels before building a network for them") {
  auto& registry = builtins();
  auto small = registry.create("native", {{"random_seed", "1"}, {"max_pixels", "100"}});
  REQUIRE(small);
  std::vector<float> x(6 * 10 * 11, 0.5f);
  REQUIRE((*small)->decode(x.data(), {6, 10, 10}));
  REQUIRE((*small)->decode(x.data(), {6, 10, 11}).code() == Errc::shape_out_of_range);
  REQUIRE((*small)->decode(x.data(), {6, 100, 1}).code() == Errc::shape_out_of_range);  // above max_height, 20
  REQUIRE((*small)->decode(x.data(), {6, 20, 5}));
  // Default: the paper's 96 x 96 bottleneck. A 512 x 512 frame (1.6 GiB and half a minute before) is refused.
  auto paper = registry.create("native", {{"random_seed", "1"}});
  REQUIRE(paper);
  REQUIRE((*paper)->decode(x.data(), {6, 512, 512}).code() == Errc::shape_out_of_range);
  REQUIRE((*paper)->decode(x.data(), {6, 97, 96}).code() == Errc::shape_out_of_range);
  REQUIRE((*paper)->decode(x.data(), {6, 1, 1}));
}

TEST_CASE("native backend: bounds near the float limit give a result, not undefined behaviour") {
  // A CRC-valid frame may carry bounds of +-4.25e37: the convolutions overflow to inf and NaN, which then reach
  // the activations (see tests/kernels/test_activation_limits.cpp), where UBSan would catch a signed overflow.
  auto backend = builtins().create("native", {{"random_seed", "7"}});
  REQUIRE(backend);
  std::vector<float> x(6 * 8 * 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 ? 4.25e37f : -4.25e37f);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  x[9] = std::numeric_limits<float>::infinity();
  auto out = (*backend)->decode(x.data(), {6, 8, 8});
  REQUIRE(out);
  REQUIRE(out->features.shape == Shape{24, 16, 16});
}

TEST_CASE("native backend is built at its trained or configured size: the first frame neither rebuilds nor copies") {
  auto& registry = builtins();
  const std::string dir = SLIMCODEC_TEST_DATA_DIR "/data/";
  auto parity = weights::SafeTensorsFile::open(dir + "reconstructor_parity.safetensors");
  REQUIRE(parity);
  auto input = parity->tensor_f32("input", {6, 12, 12});
  REQUIRE(input);
  SECTION("height= and width= name the size") {
    auto backend = registry.create("native", {{"weights", dir + "reconstructor_weights.safetensors"},
                                              {"height", "12"}, {"width", "12"}});
    REQUIRE(backend);
    auto* native = dynamic_cast<server::NativeBackend<>*>(backend->get());
    REQUIRE(native);
    REQUIRE(native->built_for() == layers::Shape{6, 12, 12});
    REQUIRE((*backend)->decode(*input, {6, 12, 12}));
    REQUIRE(native->rebuilds() == 0);
    std::vector<float> other(6 * 8 * 8, 0.5f);
    REQUIRE((*backend)->decode(other.data(), {6, 8, 8}));  // another accepted size still works, by a build
    REQUIRE(native->rebuilds() == 1);
    REQUIRE(native->built_for() == layers::Shape{6, 12, 12});  // kept, and the other size cached beside it
    REQUIRE(native->cached_sizes() == std::vector<layers::Shape>{{6, 8, 8}});
    for (int i = 0; i < 3; ++i) {  // alternating between built sizes builds nothing more
      REQUIRE((*backend)->decode(*input, {6, 12, 12}));
      REQUIRE((*backend)->decode(other.data(), {6, 8, 8}));
    }
    REQUIRE(native->rebuilds() == 1);
  }
  SECTION("the published model: its student_input (256 x 256) over the encoder's 4 gives 64 x 64") {
    auto backend = registry.create(
        "native", {{"weights", SLIMCODEC_TEST_DATA_DIR "/../training/weights/slimcodec-centernet-256-cpu.safetensors"}});
    REQUIRE(backend);
    auto* native = dynamic_cast<server::NativeBackend<>*>(backend->get());
    REQUIRE(native);
    REQUIRE(native->built_for() == layers::Shape{6, 64, 64});
    std::vector<float> x(6 * 64 * 64, 0.1f);
    auto out = (*backend)->decode(x.data(), {6, 64, 64});
    REQUIRE(out);
    REQUIRE(out->features.shape == Shape{24, 128, 128});
    REQUIRE(native->rebuilds() == 0);
  }
  SECTION("random weights: the paper's 96 x 96") {
    auto backend = registry.create("native", {{"random_seed", "5"}});
    REQUIRE(backend);
    auto* native = dynamic_cast<server::NativeBackend<>*>(backend->get());
    REQUIRE(native->built_for() == layers::Shape{6, 96, 96});
  }
  SECTION("a size is checked like a frame's: above max_pixels, or half given, is invalid_argument") {
    REQUIRE(registry.create("native", {{"random_seed", "1"}, {"height", "20"}, {"width", "20"}, {"max_pixels", "100"}})
                .code() == Errc::invalid_argument);
    REQUIRE(registry.create("native", {{"random_seed", "1"}, {"height", "20"}}).code() == Errc::invalid_argument);
    REQUIRE(registry.create("native", {{"random_seed", "1"}, {"height", "0"}, {"width", "4"}}).code() ==
            Errc::invalid_argument);
    // A default above max_pixels is built by the first frame instead, and frames above it are still refused.
    auto small = registry.create("native", {{"random_seed", "1"}, {"max_pixels", "100"}});
    REQUIRE(small);
    std::vector<float> x(6 * 11 * 10, 0.5f);
    REQUIRE((*small)->decode(x.data(), {6, 11, 10}).code() == Errc::shape_out_of_range);
    REQUIRE((*small)->decode(x.data(), {6, 10, 10}));
  }
}

TEST_CASE("native backend declares the shapes it takes, per dimension, and keeps a few sizes built") {
  auto& registry = builtins();
  auto backend = registry.create("native", {{"random_seed", "1"}, {"height", "8"}, {"width", "8"}});
  REQUIRE(backend);
  const server::ShapeLimits a = (*backend)->accepted();
  REQUIRE(a.min_channels == 6);
  REQUIRE(a.max_channels == 6);
  REQUIRE(a.max_height == 192);  // twice the side of max_pixels' square (96)
  REQUIRE(a.max_width == 192);
  REQUIRE(a.max_values == 6u * 9216u);
  REQUIRE_FALSE(a.accepts({6, 4096, 2}));  // under the pixel limit, but slow to run: refused
  REQUIRE(a.accepts({6, 192, 48}));
  REQUIRE_FALSE(a.accepts({5, 8, 8}));
  std::vector<float> x(6 * 4096 * 2, 0.25f);
  REQUIRE((*backend)->decode(x.data(), {6, 4096, 2}).code() == Errc::shape_out_of_range);
  auto* native = dynamic_cast<server::NativeBackend<>*>(backend->get());
  REQUIRE(native);
  // Sizes beyond the cache: the least recently used goes.
  for (int side : {4, 5, 6, 4}) REQUIRE((*backend)->decode(x.data(), {6, side, side}));
  REQUIRE(native->rebuilds() == 4);  // 4, 5, 6, then 4 again (evicted by 6)
  REQUIRE(native->cached_sizes().size() == server::NativeBackend<>::kCachedSizes);
  REQUIRE(native->built_for() == layers::Shape{6, 8, 8});
  SECTION("max_height and max_width are options") {
    auto narrow = registry.create("native", {{"random_seed", "1"}, {"max_height", "16"}, {"max_width", "600"}});
    REQUIRE(narrow);
    REQUIRE((*narrow)->accepted().max_height == 16);
    REQUIRE((*narrow)->accepted().accepts({6, 16, 576}));
    REQUIRE(registry.create("native", {{"random_seed", "1"}, {"max_height", "0"}}).code() == Errc::invalid_argument);
    REQUIRE(registry.create("native", {{"random_seed", "1"}, {"height", "8"}, {"width", "8"}, {"max_width", "4"}})
                .code() == Errc::invalid_argument);
  }
  SECTION("fixed_size=1 takes the built size only") {
    auto fixed =
        registry.create("native", {{"random_seed", "1"}, {"height", "8"}, {"width", "8"}, {"fixed_size", "1"}});
    REQUIRE(fixed);
    REQUIRE((*fixed)->accepted().accepts({6, 8, 8}));
    REQUIRE_FALSE((*fixed)->accepted().accepts({6, 8, 7}));
    REQUIRE((*fixed)->decode(x.data(), {6, 4, 4}).code() == Errc::shape_out_of_range);
    REQUIRE((*fixed)->decode(x.data(), {6, 8, 8}));
  }
}

TEST_CASE("decode_frame_to_reply: admitted before allocating, and a non-finite output is never ok") {
  auto backend = builtins().create("native", {{"random_seed", "7"}, {"height", "8"}, {"width", "8"}});
  REQUIRE(backend);
  std::vector<float> scratch;
  const auto decode = [&](const std::vector<uint8_t>& bytes, const entropy::TableSet* tables = nullptr) {
    auto frame = wire::parse_frame(bytes.data(), bytes.size());
    REQUIRE(frame);
    return server::decode_frame_to_reply(**backend, frame->header, frame->payload, frame->payload_size, scratch,
                                         tables);
  };
  SECTION("bounds of +-3e37: the network overflows to NaN; the reply says output_not_finite") {
    const wire::Reply r = decode(test::huge_bounds_frame(6, 8, 8, 3));
    REQUIRE(r.status == Errc::output_not_finite);
    REQUIRE(r.frame_id == 3);
    REQUIRE(r.digest == 0);
  }
  SECTION("a shape the backend refuses allocates no scratch") {
    const test::TestFrame tall = test::make_frame(4, 1, 6, 4096, 2, 4);
    REQUIRE(decode(tall.bytes).status == Errc::shape_out_of_range);
    REQUIRE(scratch.capacity() == 0);
  }
  SECTION("codec 1 without tables allocates no scratch") {
    REQUIRE(decode(test::tiny_codec1_frame(6, 40, 40)).status == Errc::entropy_table_mismatch);
    REQUIRE(scratch.capacity() == 0);
  }
  SECTION("all_finite finds one NaN or infinity anywhere") {
    std::vector<float> v(10000, 1.f);
    REQUIRE(server::all_finite(v.data(), v.size()));
    v[9999] = std::numeric_limits<float>::infinity();
    REQUIRE_FALSE(server::all_finite(v.data(), v.size()));
    v[9999] = -std::numeric_limits<float>::max();
    v[4096] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_FALSE(server::all_finite(v.data(), v.size()));
    v[4096] = 0.f;
    REQUIRE(server::all_finite(v.data(), v.size()));
  }
}

TEST_CASE("frame pipeline: admits, charges, decodes on the pool, hands back the reply and the buffer, counts") {
  server::FrameStats stats;
  server::PipelineOptions o;
  o.workers = 1;
  o.memory_budget = size_t(1) << 20;
  auto created = server::FramePipeline::create(o, stats);
  REQUIRE(created);
  server::FramePipeline& pipeline = **created;

  // What the decode thread hands back: the reply's bytes and the frame's buffer.
  struct Returned {
    wire::ReplyBytes reply;
    wire::FrameBuffer buffer;
  };
  struct Sink {
    std::promise<Returned>* done;
    bool cancelled() const { return false; }
    void operator()(const wire::ReplyBytes* reply, wire::FrameBuffer buffer) {
      done->set_value(Returned{*reply, std::move(buffer)});
    }
  };

  SECTION("a valid frame: its floats charged until its reply, the reply's digest that of its values") {
    const test::TestFrame f = test::make_frame(21, 3, 6, 8, 8, 5);
    auto view = wire::parse_frame(f.bytes.data(), f.bytes.size());
    REQUIRE(view);
    const server::Admission admitted = pipeline.admit(*view);
    REQUIRE(admitted);
    REQUIRE(admitted.floats == 6 * 8 * 8 * sizeof(float));
    REQUIRE(pipeline.budget().used() == admitted.floats);
    wire::FrameBuffer buffer{std::unique_ptr<uint8_t[]>(new uint8_t[view->payload_size]), view->payload_size};
    std::memcpy(buffer.data.get(), view->payload, view->payload_size);
    const uint8_t* held = buffer.data.get();
    std::promise<Returned> done;
    auto returned = done.get_future();
    REQUIRE(pipeline.submit(view->header, admitted, std::move(buffer), server::TaskOrder{}, Sink{&done}));
    REQUIRE(returned.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    const Returned r = returned.get();
    REQUIRE(r.buffer.data.get() == held);  // the same buffer comes back, for the transport to reuse
    auto reply = wire::parse_reply(r.reply.data(), r.reply.size());
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::ok);
    REQUIRE(reply->frame_id == 21);
    REQUIRE(reply->timestamp_us == 1021);
    REQUIRE(reply->digest == f.digest);
    REQUIRE(pipeline.budget().used() == 0);
    REQUIRE(stats.frames_received == 1);
    REQUIRE(stats.frames_decode_failed == 0);
  }
  SECTION("refused before anything is charged: counted as refused and failed") {
    const std::vector<uint8_t> bytes = test::tiny_codec1_frame(6, 40, 40, 22);
    auto view = wire::parse_frame(bytes.data(), bytes.size());
    REQUIRE(view);
    const server::Admission refused = pipeline.admit(*view);
    REQUIRE(refused.status == Errc::entropy_table_mismatch);  // no tables loaded
    REQUIRE(pipeline.budget().used() == 0);
    REQUIRE(stats.frames_refused == 1);
    REQUIRE(stats.frames_decode_failed == 1);
    auto reply = wire::parse_reply(server::FramePipeline::refusal(view->header, refused.status).data(), wire::kReplySize);
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::entropy_table_mismatch);
    REQUIRE(reply->frame_id == 22);
  }
  SECTION("the transport's buffer bytes are charged with the floats: over the budget, overloaded") {
    const test::TestFrame f = test::make_frame(23, 3, 6, 8, 8, 6);
    auto view = wire::parse_frame(f.bytes.data(), f.bytes.size());
    REQUIRE(view);
    REQUIRE(pipeline.admit(*view, size_t(1) << 20).status == Errc::overloaded);
    REQUIRE(pipeline.budget().used() == 0);
    REQUIRE(stats.frames_overloaded == 1);
    const server::Admission fits = pipeline.admit(*view, 1024);
    REQUIRE(fits);
    REQUIRE(pipeline.budget().used() == fits.floats + 1024);
    pipeline.release(fits.floats + 1024);
    REQUIRE(pipeline.admit_unread(view->header) == Errc::overloaded);  // read through: the budget was the reason
    REQUIRE(stats.frames_received == 3);
  }
  SECTION("a frame larger than the whole budget is known from its header") {
    REQUIRE(pipeline.beyond_budget(test::header_for(8, 512, 512, 8)));
    REQUIRE_FALSE(pipeline.beyond_budget(test::header_for(6, 8, 8, 3)));
  }
}
