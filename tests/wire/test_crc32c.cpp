// CRC-32C: published check values, incremental continuation, and hardware == software.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include <slimcodec/common/crc32c.hpp>

using namespace slimcodec;

namespace {
uint32_t crc_of(const char* s) { return crc32c(reinterpret_cast<const uint8_t*>(s), std::strlen(s)); }
uint32_t crc_sw_of(const char* s) { return crc32c_sw(reinterpret_cast<const uint8_t*>(s), std::strlen(s)); }

// Bit-at-a-time definition, the oracle for both fast paths.
uint32_t crc_bitwise(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) ? kCrc32cPolynomial : 0u);
  }
  return ~c;
}
}  // namespace

TEST_CASE("crc32c check values", "[wire][crc]") {
  CHECK(crc_of("123456789") == 0xE3069283u);
  CHECK(crc_sw_of("123456789") == kCrc32cCheck);
  CHECK(crc32c(nullptr, 0) == 0u);
  CHECK(crc_of("a") == 0xC1D04330u);
  // RFC 3720 (iSCSI) appendix B.4 vectors.
  std::vector<uint8_t> v(32, 0x00);
  CHECK(crc32c(v.data(), v.size()) == 0x8A9136AAu);
  std::fill(v.begin(), v.end(), 0xFF);
  CHECK(crc32c(v.data(), v.size()) == 0x62A8AB43u);
  for (size_t i = 0; i < 32; ++i) v[i] = uint8_t(i);
  CHECK(crc32c(v.data(), v.size()) == 0x46DD794Eu);
  for (size_t i = 0; i < 32; ++i) v[i] = uint8_t(31 - i);
  CHECK(crc32c(v.data(), v.size()) == 0x113FDB5Cu);
}

TEST_CASE("crc32c continues across every split point", "[wire][crc]") {
  std::vector<uint8_t> data(300);
  std::mt19937 rng(7);
  for (auto& b : data) b = uint8_t(rng());
  const uint32_t whole = crc32c(data.data(), data.size());
  CHECK(whole == crc_bitwise(data.data(), data.size()));
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    CHECK(crc32c(data.data() + cut, data.size() - cut, crc32c(data.data(), cut)) == whole);
    CHECK(crc32c_sw(data.data() + cut, data.size() - cut, crc32c_sw(data.data(), cut)) == whole);
  }
}

TEST_CASE("crc32c fast paths equal the bitwise definition at every length and alignment", "[wire][crc]") {
  std::vector<uint8_t> data(1100);
  std::mt19937 rng(11);
  for (auto& b : data) b = uint8_t(rng());
  for (size_t start = 0; start < 8; ++start) {
    for (size_t n = 0; n + start <= data.size(); n += (n < 80 ? 1 : 37)) {
      const uint32_t want = crc_bitwise(data.data() + start, n);
      REQUIRE(crc32c_sw(data.data() + start, n) == want);
      REQUIRE(crc32c(data.data() + start, n) == want);
#if defined(SLIMCODEC_CRC32C_SSE42) || defined(SLIMCODEC_CRC32C_ARMV8)
      REQUIRE(crc32c_hw(data.data() + start, n, 0x12345678u) == crc32c_sw(data.data() + start, n, 0x12345678u));
#endif
    }
  }
  INFO("hardware CRC-32C compiled in: " << kCrc32cHardware);
  SUCCEED();
}
