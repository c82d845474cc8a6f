// Weights compiled into the program (tools/safetensors_to_header.py, generated at build time) against the same
// files read at run time: every tensor bitwise equal, the same lookup errors, and an encoder loaded either way
// giving bitwise identical output, within the parity bound of the PyTorch reference (tests/layers).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "encoder_weights.hpp"
#include "kernels/test_util.hpp"
#include "odd_weights.hpp"
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/weights/safetensors.hpp>

using namespace slimcodec;
using weights::SafeTensorsFile;
using PaperEncoder = model::Encoder<layers::paper::Encoder>;

namespace {

SafeTensorsFile open_file(const std::string& path) {
  std::string context;
  auto f = SafeTensorsFile::open(path, &context);
  INFO(path << ": " << context);
  REQUIRE(f);
  return std::move(f.value());
}

SafeTensorsFile open_fixture(const char* name) {
  return open_file(std::string(SLIMCODEC_TEST_DATA_DIR) + "/data/" + name);
}

// Every tensor of the file is found in the source under its exact name and shape, with the same bytes, and the
// source holds nothing else.
template <class Source>
void require_same_tensors(const SafeTensorsFile& file, const Source& source) {
  REQUIRE(source.size() == file.size());
  REQUIRE(source.count_with_prefix("") == file.size());
  for (size_t i = 0; i < file.size(); ++i) {
    const weights::TensorView t = file.tensor(i);
    INFO("tensor '" << std::string(t.name) << "'");
    REQUIRE(t.dtype == weights::DType::F32);
    Result<const float*> embedded = source.tensor_f32(t.name, t.shape, t.rank);
    REQUIRE(embedded);
    CHECK(std::memcmp(embedded.value(), t.data, t.nbytes) == 0);
  }
}

std::vector<float> encode(PaperEncoder& enc, const float* x, int s) {
  REQUIRE(enc.set_active(s));
  std::vector<float> y(size_t(enc.out_shape().size()));
  enc.encode(x, y.data());
  return y;
}

PaperEncoder encoder_from(int side, const SafeTensorsFile* file) {
  auto enc = PaperEncoder::create(side, side);
  REQUIRE(enc);
  const Result<void> loaded = file ? enc->load(*file, "") : enc->load(encoder_weights::kSource, "");
  INFO(loaded.error().what());
  REQUIRE(loaded);
  return std::move(enc.value());
}

// Embedded and file-loaded encoders agree bit for bit at every s, and both stay within tests/layers' bound of
// the float64 PyTorch reference: max |C++ - ref| <= 1e-4 * max(1, max |ref|).
void check_encoders_agree(const char* parity_file, int side, std::initializer_list<int> sizes) {
  const SafeTensorsFile file = open_fixture("encoder_weights.safetensors");
  const SafeTensorsFile parity = open_fixture(parity_file);
  PaperEncoder from_file = encoder_from(side, &file);
  PaperEncoder embedded = encoder_from(side, nullptr);
  const int64_t in_shape[3] = {3, side, side};
  const Result<const float*> x = parity.tensor_f32("input", in_shape, 3);
  REQUIRE(x);
  for (int s : sizes) {
    INFO("s = " << s);
    const std::vector<float> a = encode(from_file, x.value(), s), b = encode(embedded, x.value(), s);
    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    const layers::Shape out = embedded.out_shape();
    const int64_t out_shape[3] = {out.c, out.h, out.w};
    const Result<const float*> want = parity.tensor_f32("output_s" + std::to_string(s), out_shape, 3);
    REQUIRE(want);
    const float scale = std::max(1.f, test::max_abs(want.value(), b.size()));
    const float err = test::max_abs_diff(b.data(), want.value(), b.size());
    CAPTURE(err, scale);
    CHECK(err <= 1e-4f * scale);
  }
}

}  // namespace

TEST_CASE("the generated header holds every tensor of encoder_weights.safetensors bit for bit", "[embedded]") {
  require_same_tensors(open_fixture("encoder_weights.safetensors"), encoder_weights::kSource);
  CHECK(encoder_weights::kFloats == size_t(layers::paper::Encoder::params()));
}

TEST_CASE("odd names, rank 0, empty tensors, signed zeros and subnormals survive the conversion", "[embedded]") {
  const SafeTensorsFile file = open_file(SLIMCODEC_ODD_TENSORS_FILE);
  require_same_tensors(file, odd_weights::kSource);
  // The names the converter has to escape, each looked up by its exact bytes.
  using namespace std::string_view_literals;
  for (std::string_view name : {"quote\"back\\slash?"sv, "nul\0inside"sv, "utf8.\xc3\xa9.\xe5\x90\x8d"sv, "rank0"sv,
                                "empty"sv, "line\nbreak\t?\?="sv, ""sv}) {
    INFO("name of " << name.size() << " bytes");
    CHECK(odd_weights::kSource.count_with_prefix(name) >= 1);
    CHECK(file.find(name));
  }
  const int64_t scalar_shape[1] = {0};
  Result<const float*> scalar = odd_weights::kSource.tensor_f32("rank0", nullptr, 0);
  REQUIRE(scalar);
  CHECK(*scalar.value() == 3.40282347e38f);
  CHECK(odd_weights::kSource.tensor_f32("rank0", scalar_shape, 1).code() == Errc::tensor_shape_mismatch);
  const int64_t empty_shape[2] = {0, 3};
  CHECK(odd_weights::kSource.tensor_f32("empty", empty_shape, 2));
  const int64_t pair_shape[1] = {2};
  Result<const float*> zeros = odd_weights::kSource.tensor_f32("quote\"back\\slash?", pair_shape, 1);
  REQUIRE(zeros);
  CHECK(std::signbit(zeros.value()[0]));
  CHECK(!std::signbit(zeros.value()[1]));
}

TEST_CASE("lookups on the embedded source fail exactly as on the file", "[embedded]") {
  const SafeTensorsFile file = open_fixture("encoder_weights.safetensors");
  const auto& source = encoder_weights::kSource;
  const std::string name = "members.2.stages.3.expand.conv.weight";
  const int64_t right[4] = {24, 4, 3, 3}, wrong_dim[4] = {24, 4, 3, 2}, wrong_rank[3] = {24, 4, 9};
  REQUIRE(file.tensor_f32(name, right, 4));
  REQUIRE(source.tensor_f32(name, right, 4));
  struct Case {
    std::string name;
    const int64_t* shape;
    size_t rank;
  };
  const std::string shorter = name.substr(0, name.size() - 1);
  for (const Case& c : {Case{name, wrong_dim, 4}, Case{name, wrong_rank, 3}, Case{name, nullptr, 4},
                        Case{name, right, 0}, Case{name + "x", right, 4}, Case{shorter, right, 4}, Case{"", right, 4},
                        Case{"members.9.stages.0.conv.weight", right, 4}}) {
    INFO("'" << c.name << "' rank " << c.rank);
    const Errc want = file.tensor_f32(c.name, c.shape, c.rank).code();
    CHECK(want != Errc::ok);
    CHECK(source.tensor_f32(c.name, c.shape, c.rank).code() == want);
  }
  for (std::string_view prefix : {"", "members.", "members.1.", "members.1", "members.3.stages.5.se.", "zzz", "A",
                                  "members.0.stages.0.conv.weight", "members.0.stages.0.conv.weightX"}) {
    INFO("prefix '" << std::string(prefix) << "'");
    CHECK(source.count_with_prefix(prefix) == file.count_with_prefix(prefix));
  }
  CHECK(source.count_with_prefix("members.1.") == layers::paper::Member::kTensors);
}

TEST_CASE("a model loads from the embedded source with the file's checks", "[embedded]") {
  auto enc = PaperEncoder::create(64, 64);
  REQUIRE(enc);
  CHECK(enc->load(encoder_weights::kSource, "encoder.").code() == Errc::tensor_missing);
  CHECK(enc->load(odd_weights::kSource, "").code() == Errc::tensor_missing);
  // A one-member ensemble sees three more members' tensors under its prefix than it binds.
  auto one = model::Encoder<layers::Ensemble<layers::paper::Member, 1>>::create(64, 64);
  REQUIRE(one);
  CHECK(one->load(encoder_weights::kSource, "").code() == Errc::tensor_unexpected);
  REQUIRE(enc->load(encoder_weights::kSource, ""));
  const SafeTensorsFile file = open_fixture("encoder_weights.safetensors");
  PaperEncoder from_file = encoder_from(64, &file);
  CHECK(std::memcmp(&enc->weights(), &from_file.weights(), sizeof(PaperEncoder::Weights)) == 0);
}

TEST_CASE("embedded and file-loaded encoders give bitwise identical output at 3x64x64, s = 1..4", "[embedded]") {
  check_encoders_agree("encoder_parity_64.safetensors", 64, {1, 2, 3, 4});
}

TEST_CASE("embedded and file-loaded encoders give bitwise identical output at 3x384x384", "[embedded][full]") {
  check_encoders_agree("encoder_parity_384.safetensors", 384, {1, 4});
}
