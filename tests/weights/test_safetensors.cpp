// SafeTensorsFile and the writer: round trips, the Python-written fixtures, and one test per malformed-input rule.
#include <catch2/catch.hpp>

#include <slimcodec/weights/safetensors.hpp>
#include <support/safetensors_writer.hpp>

#include "safetensors_test_util.hpp"

#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::weights;
using slimcodec_test::craft_safetensors;
using slimcodec_test::fixture_path;

namespace {

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kTensorAlignment == 0; }

int64_t numel(const TensorView& t) {
  int64_t n = 1;
  for (size_t i = 0; i < t.rank; ++i) n *= t.shape[i];
  return n;
}

// Parses bytes that must fail with format_invalid and returns the static detail string.
std::string format_error(const std::vector<uint8_t>& bytes, const SafeTensorsLimits& limits = {}) {
  auto f = SafeTensorsFile::from_bytes(bytes, nullptr, limits);
  REQUIRE_FALSE(f.ok());
  CHECK(f.code() == Errc::format_invalid);
  return f.error().detail ? f.error().detail : "";
}

std::string one_tensor(const std::string& entry) { return "{\"t\":" + entry + "}"; }

}  // namespace

TEST_CASE("safetensors: writer and reader round trip every dtype, rank and awkward name") {
  const std::vector<float> a = {1.5f, -2.f, 3.25f, 0.f, 1e-30f, -7.f};
  const std::vector<uint8_t> b = {1, 2, 3, 4, 5};  // odd size: the next tensor is misaligned in the file
  const std::vector<double> c = {3.141592653589793, -1e300};
  const float scalar = 42.f;
  const std::vector<int32_t> d = {-1, 0, 1, INT32_MAX};
  const std::string odd_name = "quote\" back\\slash \n new\xC3\xA9line \xF0\x9F\x98\x80";
  std::vector<TensorToWrite> in = {
      {"a", DType::F32, {2, 3}, a.data()},      {"b.u8", DType::U8, {5}, b.data()},
      {"c", DType::F64, {1, 2}, c.data()},      {"scalar", DType::F32, {}, &scalar},
      {"empty", DType::F32, {0, 4}, nullptr},   {odd_name, DType::I32, {2, 1, 1, 2}, d.data()},
  };
  const Metadata meta = {{"format", "pt"}, {"note", "tab\there \"quoted\" \x01"}};
  auto bytes = to_safetensors_bytes(in, meta);
  REQUIRE(bytes.ok());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | (*bytes)[size_t(i)];
  CHECK(n % 8 == 0);

  auto f = SafeTensorsFile::from_bytes(*bytes);
  REQUIRE(f.ok());
  REQUIRE(f->size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const TensorView t = f->tensor(i);
    CHECK(t.name == in[i].name);
    CHECK(t.dtype == in[i].dtype);
    REQUIRE(t.rank == in[i].shape.size());
    CHECK(std::equal(t.shape, t.shape + t.rank, in[i].shape.begin()));
    CHECK(t.nbytes == size_t(numel(t)) * dtype_size(t.dtype));
    CHECK(aligned(t.data));
    if (t.nbytes) CHECK(std::memcmp(t.data, in[i].data, t.nbytes) == 0);
    auto found = f->find(in[i].name);
    REQUIRE(found.ok());
    CHECK(found->data == t.data);
  }
  CHECK(f->metadata() == meta);
  CHECK(f->metadata_value("format").value() == "pt");
  CHECK_FALSE(f->metadata_value("absent").has_value());
  CHECK(f->describe("c") == "F64 [1, 2]");
  CHECK(f->describe("nope") == "missing");

  const int64_t shape_a[] = {2, 3};
  auto pa = f->tensor_f32("a", shape_a, 2);
  REQUIRE(pa.ok());
  CHECK((*pa)[2] == 3.25f);
  CHECK(f->tensor_f32("scalar", nullptr, 0).ok());
  CHECK(*f->tensor_f32("scalar", {}).value() == 42.f);
  CHECK(f->tensor_f32("empty", {0, 4}).ok());

  SECTION("through a file") {
    const std::string path = "slimcodec_test_roundtrip.safetensors";
    REQUIRE(write_safetensors(path, in, meta).ok());
    std::string ctx;
    auto g = SafeTensorsFile::open(path, &ctx);
    REQUIRE(g.ok());
    CHECK(g->size() == in.size());
    CHECK(std::memcmp(g->find(odd_name)->data, d.data(), d.size() * 4) == 0);
    std::remove(path.c_str());
  }
}

TEST_CASE("safetensors: tensor_f32 checks name, dtype and exact shape") {
  const std::vector<float> w(6 * 3 * 3 * 3, 0.5f);
  const uint8_t u[2] = {1, 2};
  auto bytes = to_safetensors_bytes({{"conv.weight", DType::F32, {6, 3, 3, 3}, w.data()}, {"u", DType::U8, {2}, u}});
  REQUIRE(bytes.ok());
  auto f = SafeTensorsFile::from_bytes(*bytes);
  REQUIRE(f.ok());
  CHECK(f->tensor_f32("conv.weight", {6, 3, 3, 3}).ok());
  CHECK(f->tensor_f32("conv.weigh", {6, 3, 3, 3}).code() == Errc::tensor_missing);
  CHECK(f->tensor_f32("conv.weight", {6, 3, 3, 2}).code() == Errc::tensor_shape_mismatch);
  CHECK(f->tensor_f32("conv.weight", {6, 3, 9}).code() == Errc::tensor_shape_mismatch);
  CHECK(f->tensor_f32("conv.weight", {6, 3, 3, 3, 1}).code() == Errc::tensor_shape_mismatch);
  CHECK(f->tensor_f32("conv.weight", nullptr, 4).code() == Errc::tensor_shape_mismatch);
  CHECK(f->tensor_f32("u", {2}).code() == Errc::tensor_dtype_mismatch);
  CHECK(f->find("u")->f32() == nullptr);
}

TEST_CASE("safetensors: count_with_prefix and unexpected_with_prefix") {
  const float v = 1.f;
  std::vector<TensorToWrite> in;
  for (const char* name : {"encoder.a", "encoder.b", "encoder.c", "reconstructor.a", "encoderx"})
    in.push_back({name, DType::F32, {}, &v});
  auto f = SafeTensorsFile::from_bytes(to_safetensors_bytes(in).value());
  REQUIRE(f.ok());
  CHECK(f->count_with_prefix("encoder.") == 3);
  CHECK(f->count_with_prefix("encoder") == 4);
  CHECK(f->count_with_prefix("") == 5);
  CHECK(f->count_with_prefix("decoder.") == 0);
  const std::vector<std::string> known = {"encoder.a", "encoder.b", "encoder.c"};
  CHECK_FALSE(f->unexpected_with_prefix("encoder.", known).has_value());
  CHECK(f->unexpected_with_prefix("encoder", known).value() == "encoderx");
  CHECK(f->unexpected_with_prefix("encoder.", {"encoder.a", "encoder.c"}).value() == "encoder.b");
  const char* const known_c[] = {"reconstructor.a"};
  CHECK_FALSE(f->unexpected_with_prefix("reconstructor.", known_c).has_value());
}

TEST_CASE("safetensors: reads the Python-written encoder weights") {
  std::string ctx;
  auto f = SafeTensorsFile::open(fixture_path("encoder_weights.safetensors"), &ctx);
  INFO(ctx);
  REQUIRE(f.ok());
  CHECK(f->size() == 4 * 53);
  CHECK(f->metadata_value("format").value() == "pt");
  for (int m = 0; m < 4; ++m) {
    const std::string prefix = "members." + std::to_string(m) + ".";
    CHECK(f->count_with_prefix(prefix) == 53);  // Conv2D: 3 tensors, 5 FusedMBConv: 10 each
    size_t params = 0;
    for (size_t i = 0; i < f->size(); ++i)
      if (f->tensor(i).name.substr(0, prefix.size()) == prefix) params += f->tensor(i).numel();
    CHECK(params == 6597);  // docs/model.md
    CHECK(f->tensor_f32(prefix + "stages.0.conv.weight", {6, 3, 3, 3}).ok());
    CHECK(f->tensor_f32(prefix + "stages.3.expand.conv.weight", {24, 4, 3, 3}).ok());
    CHECK(f->tensor_f32(prefix + "stages.3.se.reduce.weight", {1, 24, 1, 1}).ok());
    CHECK(f->tensor_f32(prefix + "stages.5.project.conv.weight", {6, 36, 1, 1}).ok());
    CHECK(f->tensor_f32(prefix + "stages.4.se.expand.bias", {36}).ok());
  }
  for (size_t i = 0; i < f->size(); ++i) CHECK(aligned(f->tensor(i).data));
  // The fixture init draws norm weights from U(0.5, 1.5): a decoding slip (offsets, endianness) would show here.
  const float* g = f->tensor_f32("members.2.stages.4.project.norm.weight", {6}).value();
  for (int i = 0; i < 6; ++i) {
    CHECK(g[i] >= 0.5f);
    CHECK(g[i] <= 1.5f);
  }
}

TEST_CASE("safetensors: reads the reconstructor and parity fixtures") {
  auto rec = SafeTensorsFile::open(fixture_path("reconstructor_weights.safetensors"));
  REQUIRE(rec.ok());
  CHECK(rec->size() == 50);
  CHECK(rec->tensor_f32("stages.2.expand.conv.weight", {48, 288, 3, 3}).ok());  // ConvTranspose2d: [Cin, Ce, K, K]
  CHECK(rec->tensor_f32("stages.1.se.reduce.weight", {12, 288, 1, 1}).ok());
  CHECK(rec->tensor_f32("stages.4.project.conv.weight", {24, 288, 1, 1}).ok());

  auto p64 = SafeTensorsFile::open(fixture_path("encoder_parity_64.safetensors"));
  REQUIRE(p64.ok());
  CHECK(p64->tensor_f32("input", {3, 64, 64}).ok());
  for (int s = 1; s <= 4; ++s) CHECK(p64->tensor_f32("output_s" + std::to_string(s), {6, 16, 16}).ok());
  CHECK(p64->tensor_f32("member0_stage0", {6, 32, 32}).ok());
  CHECK(p64->tensor_f32("member0_stage2", {4, 32, 32}).ok());
  // Member 0's last stage is the s=1 output, bit for bit (the same computation).
  const float* last = p64->tensor_f32("member0_stage5", {6, 16, 16}).value();
  const float* s1 = p64->tensor_f32("output_s1", {6, 16, 16}).value();
  CHECK(std::memcmp(last, s1, 6 * 16 * 16 * sizeof(float)) == 0);

  auto p384 = SafeTensorsFile::open(fixture_path("encoder_parity_384.safetensors"));
  REQUIRE(p384.ok());
  CHECK(p384->tensor_f32("input", {3, 384, 384}).ok());
  CHECK(p384->tensor_f32("output_s4", {6, 96, 96}).ok());

  auto rp = SafeTensorsFile::open(fixture_path("reconstructor_parity.safetensors"));
  REQUIRE(rp.ok());
  CHECK(rp->tensor_f32("input", {6, 12, 12}).ok());
  CHECK(rp->tensor_f32("output", {24, 24, 24}).ok());

  // U8 image first, so the float tensors after it sit at odd offsets in the file: the arena realigns them.
  auto pp = SafeTensorsFile::open(fixture_path("preprocess_parity.safetensors"));
  REQUIRE(pp.ok());
  auto rgb = pp->find("rgb");
  REQUIRE(rgb.ok());
  CHECK(rgb->dtype == DType::U8);
  auto out = pp->tensor_f32("out_24x32", {3, 24, 32});
  REQUIRE(out.ok());
  CHECK(aligned(*out));
}

TEST_CASE("safetensors: accepts what the specification allows") {
  SECTION("empty header object, no data") { CHECK(SafeTensorsFile::from_bytes(craft_safetensors("{}", 0)).ok()); }
  SECTION("whitespace, key order, unknown keys, unpadded header") {
    const std::string h =
        "{ \"__metadata__\" : { \"a\" : \"b\" } ,\n\t\"x\" : { \"data_offsets\" : [ 0 , 8 ] , \"extra\" : "
        "[1, {\"k\": [\"v\", -3]}], \"shape\" : [ 2 ] , \"dtype\" : \"F32\" } }\r\n";
    auto f = SafeTensorsFile::from_bytes(craft_safetensors(h, 8, /*pad=*/false));
    REQUIRE(f.ok());
    CHECK(f->tensor_f32("x", {2}).ok());
    CHECK(f->metadata_value("a").value() == "b");
  }
  SECTION("escaped names decode to UTF-8") {
    const std::string h = R"({"caf\u00e9 \ud83d\ude00 \"q\" \/":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    auto f = SafeTensorsFile::from_bytes(craft_safetensors(h, 1));
    REQUIRE(f.ok());
    CHECK(f->find("caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\" /").ok());
  }
  SECTION("zero-size tensors anywhere, data order independent of header order") {
    const std::string h =
        R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    auto f = SafeTensorsFile::from_bytes(craft_safetensors(h, 8));
    REQUIRE(f.ok());
    CHECK(f->size() == 3);
    CHECK(f->tensor(0).name == "b");
  }
}

TEST_CASE("safetensors: every malformed-file rule is a typed error") {
  const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  REQUIRE(SafeTensorsFile::from_bytes(craft_safetensors(one_tensor(ok_entry), 8)).ok());

  SECTION("framing") {
    CHECK(format_error({}) == "file shorter than the 8-byte header length");
    CHECK(format_error({1, 0, 0}) == "file shorter than the 8-byte header length");
    auto b = craft_safetensors(one_tensor(ok_entry), 8);
    b[0] = static_cast<uint8_t>(b[0] + 100);  // length now runs past the end
    CHECK(format_error(b) == "header length beyond the end of the file");
    std::vector<uint8_t> huge = {0, 0, 0, 0, 0, 0, 0, 0x80};  // 2^63
    CHECK(format_error(huge) == "header length above the limit");
    SafeTensorsLimits small;
    small.max_header_bytes = 16;
    CHECK(format_error(craft_safetensors(one_tensor(ok_entry), 8), small) == "header length above the limit");
    CHECK(format_error(craft_safetensors("", 0)) == "header does not start with '{'");
    CHECK(format_error(craft_safetensors(" {}", 0)) == "header does not start with '{'");
    CHECK(format_error(craft_safetensors(one_tensor(ok_entry), 7)) ==
          "tensor data beyond the end of the file (truncated?)");
  }
  SECTION("UTF-8") {
    CHECK(format_error(craft_safetensors("{\"\xFF\":{}}", 0)) == "header is not valid UTF-8");
    CHECK(format_error(craft_safetensors("{\"\xC0\xAF\":{}}", 0)) == "header is not valid UTF-8");      // overlong
    CHECK(format_error(craft_safetensors("{\"\xED\xA0\x80\":{}}", 0)) == "header is not valid UTF-8");  // surrogate
    CHECK(format_error(craft_safetensors("{\"\xF4\x90\x80\x80\":{}}", 0)) == "header is not valid UTF-8");
    CHECK(format_error(craft_safetensors("{\"\xE2\x82", 0, false)) == "header is not valid UTF-8");  // cut short
  }
  SECTION("JSON syntax") {
    CHECK(format_error(craft_safetensors("{\"t", 0)) == "header JSON: unterminated string");
    CHECK(format_error(craft_safetensors("{\"a\\x\":{}}", 0)) == "header JSON: unknown escape in a string");
    CHECK(format_error(craft_safetensors("{\"a\\u12g4\":{}}", 0)) == "header JSON: bad \\u escape");
    CHECK(format_error(craft_safetensors("{\"a\\ud800\":{}}", 0)) == "header JSON: lone high surrogate");
    CHECK(format_error(craft_safetensors("{\"a\\udc00\":{}}", 0)) == "header JSON: lone low surrogate");
    CHECK(format_error(craft_safetensors("{\"a\tb\":{}}", 0)) == "header JSON: control character in a string");
    CHECK(format_error(craft_safetensors("{\"t\" {}}", 0)) == "header JSON: expected ':'");
    CHECK(format_error(craft_safetensors("{\"t\":" + ok_entry + " \"u\":{}}", 8)) ==
          "header JSON: expected ',' or '}'");
    CHECK(format_error(craft_safetensors("{" + std::string("\"t\":") + ok_entry + "} x", 8)) ==
          "header JSON: trailing characters after the object");
    CHECK(format_error(craft_safetensors("{\"t\":" + ok_entry, 8)) == "header JSON: expected ',' or '}'");
    CHECK(format_error(craft_safetensors("{1:2}", 0)) == "header JSON: expected a string");
  }
  SECTION("JSON values outside the supported subset") {
    auto with_extra = [&](const std::string& v) {
      return craft_safetensors(one_tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":)" + v + "}"), 8);
    };
    CHECK(format_error(with_extra("1.5")) == "header JSON: only integer numbers are supported");
    CHECK(format_error(with_extra("1e3")) == "header JSON: only integer numbers are supported");
    CHECK(format_error(with_extra("true")) ==
          "header JSON: unsupported value (only objects, arrays, strings, integers)");
    CHECK(format_error(with_extra("null")) ==
          "header JSON: unsupported value (only objects, arrays, strings, integers)");
    CHECK(format_error(with_extra("012")) == "header JSON: integer with a leading zero");
    CHECK(format_error(with_extra("99999999999999999999")) == "header JSON: integer too large");
    CHECK(format_error(with_extra("-")) == "header JSON: expected an integer");
    CHECK(format_error(with_extra("[1,]")) ==
          "header JSON: unsupported value (only objects, arrays, strings, integers)");
    CHECK(format_error(with_extra("{\"k\" 1}")) == "header JSON: expected ':'");
    CHECK(format_error(with_extra(std::string(200, '[') + std::string(200, ']'))) == "header JSON: nesting too deep");
    CHECK(format_error(with_extra(std::string(100000, '['))) == "header JSON: nesting too deep");
    CHECK(SafeTensorsFile::from_bytes(with_extra(std::string(20, '[') + std::string(20, ']'))).ok());
  }
  SECTION("schema") {
    auto entry = [&](const std::string& e, size_t data = 8) { return craft_safetensors(one_tensor(e), data); };
    CHECK(format_error(entry(R"([1])")) == "tensor entry is not an object");
    CHECK(format_error(entry(R"({"dtype":"F17","shape":[2],"data_offsets":[0,8]})")) == "unknown dtype");
    CHECK(format_error(entry(R"({"dtype":3,"shape":[2],"data_offsets":[0,8]})")) == "header JSON: expected a string");
    CHECK(format_error(entry(R"({"shape":[2],"data_offsets":[0,8]})")) ==
          "tensor entry lacks dtype, shape or data_offsets");
    CHECK(format_error(entry(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})")) ==
          "duplicate key in a tensor entry");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})")) ==
          "tensor rank above kMaxRank");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})")) == "negative shape or offset");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})")) == "expected an array of integers");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,9]})")) ==
          "data_offsets must have two entries");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8]})")) ==
          "data_offsets must have two entries");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 4)) ==
          "data_offsets do not match dtype and shape");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})")) ==
          "data_offsets do not match dtype and shape");
    CHECK(format_error(entry(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]})")) ==
          "tensor size overflows");
    CHECK(format_error(craft_safetensors(R"({"__metadata__":{"a":1}})", 0)) == "__metadata__ values must be strings");
    CHECK(format_error(craft_safetensors(R"({"__metadata__":[]})", 0)) == "__metadata__ is not an object");
    CHECK(format_error(craft_safetensors(R"({"__metadata__":{"a":"1","a":"2"}})", 0)) ==
          "duplicate key in __metadata__");
    CHECK(format_error(craft_safetensors(R"({"__metadata__":{},"__metadata__":{}})", 0)) == "duplicate __metadata__");
  }
  SECTION("data section layout") {
    const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    const std::string b_overlap = R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]})";
    const std::string b_gap = R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]})";
    const std::string b_next = R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]})";
    const std::string a_again = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]})";
    CHECK(format_error(craft_safetensors("{" + a + "," + b_overlap + "}", 8)) == "tensors overlap in the data section");
    CHECK(format_error(craft_safetensors("{" + a + "," + b_gap + "}", 16)) == "gap in the data section");
    CHECK(format_error(craft_safetensors("{" + a + "," + b_next + "}", 13)) ==
          "bytes after the last tensor in the data section");
    CHECK(format_error(craft_safetensors("{" + a + "," + a_again + "}", 12)) == "duplicate tensor name");
    CHECK(format_error(craft_safetensors(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)) ==
          "gap in the data section");
    CHECK(SafeTensorsFile::from_bytes(craft_safetensors("{" + a + "," + b_next + "}", 12)).ok());
  }
  SECTION("error_context names the tensor") {
    std::string ctx;
    auto f = SafeTensorsFile::from_bytes(
        craft_safetensors(R"({"stages.0.conv.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), &ctx);
    REQUIRE_FALSE(f.ok());
    CHECK(ctx.find("stages.0.conv.weight") != std::string::npos);
    CHECK(ctx.find("data_offsets do not match dtype and shape") != std::string::npos);
  }
}

TEST_CASE("safetensors: file errors are io_error") {
  std::string ctx;
  auto missing = SafeTensorsFile::open("/nonexistent/slimcodec/weights.safetensors", &ctx);
  CHECK(missing.code() == Errc::io_error);
  CHECK(ctx.find("/nonexistent/slimcodec/weights.safetensors") != std::string::npos);
  CHECK(SafeTensorsFile::open(SLIMCODEC_TEST_DATA_DIR).code() == Errc::io_error);  // a directory
  SafeTensorsLimits tiny;
  tiny.max_file_bytes = 1000;
  CHECK(SafeTensorsFile::open(fixture_path("encoder_weights.safetensors"), nullptr, tiny).code() == Errc::io_error);
  const float v = 1.f;
  CHECK(write_safetensors("/nonexistent/dir/x.safetensors", {{"v", DType::F32, {}, &v}}).code() == Errc::io_error);
}

TEST_CASE("safetensors writer: rejects what it cannot write") {
  const float v[4] = {};
  CHECK(to_safetensors_bytes({{"a", DType::F32, {1}, v}, {"a", DType::F32, {1}, v}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({{"__metadata__", DType::F32, {1}, v}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({{"a", DType::F32, {-1}, v}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({{"a", DType::F32, {1}, nullptr}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({{"a", DType::F32, {1, 1, 1, 1, 1, 1, 1, 1, 1}, v}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({{"bad\xFF", DType::F32, {1}, v}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({{"a", DType::F32, {INT64_MAX, INT64_MAX}, v}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({}, {{"k", "1"}, {"k", "2"}}).code() == Errc::invalid_argument);
  CHECK(to_safetensors_bytes({}).ok());
}
