// Mutation loop: thousands of byte flips, truncations, insertions and length rewrites of valid files must each
// parse cleanly or fail with format_invalid; never crash, never read outside the buffer (run it under ASan).
#include <catch2/catch.hpp>

#include <slimcodec/io/file.hpp>
#include <slimcodec/weights/safetensors.hpp>
#include <support/safetensors_writer.hpp>

#include "safetensors_test_util.hpp"

#include <random>
#include <string>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::weights;

namespace {

std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937& rng, size_t header_end) {
  auto pick = [&](size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(rng) : 0; };
  // Most mutations land in the length field and header, where the parser does its work.
  auto pos = [&]() { return pick(4) ? pick(std::min(header_end, b.size())) : pick(b.size()); };
  const int kinds = 6;
  const int rounds = 1 + int(pick(3));
  for (int r = 0; r < rounds && !b.empty(); ++r) {
    switch (int(pick(kinds))) {
      case 0: {  // bit flip
        const size_t at = pos();
        b[at] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      }
      case 1: {  // random byte
        const size_t at = pos();
        b[at] = static_cast<uint8_t>(pick(256));
        break;
      }
      case 2: b.resize(pick(b.size() + 1)); break;  // truncation
      case 3: {  // insertion (draws sequenced explicitly: argument order would differ between compilers)
        const size_t at = pick(b.size() + 1);
        const auto value = static_cast<uint8_t>(pick(256));
        b.insert(b.begin() + long(at), value);
        break;
      }
      case 4: b.erase(b.begin() + long(pick(b.size()))); break;  // deletion
      case 5: {  // a JSON-significant character, to reach deeper parser states
        static constexpr char kTokens[] = "{}[]\":,\\-0123456789e. u";
        const size_t at = pos();
        b[at] = static_cast<uint8_t>(kTokens[pick(sizeof(kTokens) - 1)]);
        break;
      }
    }
  }
  return b;
}

// Returns true when the mutant parsed; checks every invariant a consumer relies on, touching every byte.
bool check_mutant(const std::vector<uint8_t>& bytes) {
  std::string ctx;
  auto f = SafeTensorsFile::from_bytes(bytes, &ctx);
  if (!f.ok()) {
    REQUIRE(f.code() == Errc::format_invalid);
    REQUIRE(f.error().detail != nullptr);
    REQUIRE(!ctx.empty());
    return false;
  }
  size_t total = 0;
  unsigned sum = 0;
  for (size_t i = 0; i < f->size(); ++i) {
    const TensorView t = f->tensor(i);
    size_t n = dtype_size(t.dtype);
    for (size_t d = 0; d < t.rank; ++d) n *= size_t(t.shape[d]);
    REQUIRE(n == t.nbytes);
    REQUIRE(reinterpret_cast<uintptr_t>(t.data) % kTensorAlignment == 0);
    const auto* p = static_cast<const uint8_t*>(t.data);
    for (size_t k = 0; k < t.nbytes; ++k) sum += p[k];
    auto again = f->find(t.name);
    REQUIRE(again.ok());
    total += t.nbytes;
  }
  REQUIRE(total <= bytes.size());
  (void)sum;
  return true;
}

size_t header_end(const std::vector<uint8_t>& b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[size_t(i)];
  return size_t(8 + n);
}

}  // namespace

TEST_CASE("safetensors mutation: small writer-made file") {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<uint8_t> u = {9, 8, 7};
  const double d = 2.5;
  auto valid = to_safetensors_bytes({{"stages.0.conv.weight", DType::F32, {1, 2, 3}, a.data()},
                                     {"u8", DType::U8, {3}, u.data()},
                                     {"d", DType::F64, {}, &d},
                                     {"empty", DType::BF16, {2, 0}, nullptr}},
                                    {{"format", "pt"}, {"caf\xC3\xA9", "\xE2\x82\xAC"}})
                   .value();
  REQUIRE(check_mutant(valid));
  std::mt19937 rng(12345);
  size_t parsed = 0;
  const int kIterations = 20000;
  for (int i = 0; i < kIterations; ++i) parsed += check_mutant(mutate(valid, rng, header_end(valid))) ? 1 : 0;
  // Data-section flips keep a file valid; header damage must not: both outcomes have to occur.
  CHECK(parsed > 100);
  CHECK(parsed < size_t(kIterations) * 9 / 10);
}

TEST_CASE("safetensors mutation: Python-written encoder weights") {
  auto bytes = io::read_file(slimcodec_test::fixture_path("encoder_weights.safetensors"), size_t(1) << 24);
  REQUIRE(bytes.ok());
  const std::vector<uint8_t> valid = *bytes;
  REQUIRE(check_mutant(valid));
  std::mt19937 rng(777);
  size_t parsed = 0;
  for (int i = 0; i < 1500; ++i) parsed += check_mutant(mutate(valid, rng, header_end(valid))) ? 1 : 0;
  CHECK(parsed > 10);
  CHECK(parsed < 1500);
}

TEST_CASE("safetensors mutation: every truncation of a valid file fails cleanly") {
  const float v[3] = {1, 2, 3};
  auto valid = to_safetensors_bytes({{"x", DType::F32, {3}, v}, {"y", DType::F32, {1}, v}}).value();
  for (size_t n = 0; n < valid.size(); ++n) {
    const std::vector<uint8_t> cut(valid.begin(), valid.begin() + long(n));
    auto f = SafeTensorsFile::from_bytes(cut.data(), cut.size());
    INFO("length " << n);
    CHECK(f.code() == Errc::format_invalid);
  }
}
