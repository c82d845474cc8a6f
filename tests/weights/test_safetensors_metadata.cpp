// safetensors __metadata__ at scale: the duplicate-key check is O(n log n), not quadratic
// (a quadratic check takes minutes on 100,000 keys), and the key count is bounded.
#include "safetensors_test_util.hpp"

#include <slimcodec/weights/safetensors.hpp>
#include <support/safetensors_writer.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace slimcodec;
using namespace slimcodec::weights;

namespace {

// {"__metadata__":{"k0":"v","k1":"v",...}} with `keys` keys; `dup` >= 0 repeats key `dup` at the end.
std::vector<uint8_t> metadata_file(size_t keys, long dup = -1) {
  std::string h = "{\"__metadata__\":{";
  for (size_t i = 0; i < keys; ++i) {
    if (i) h += ',';
    h += "\"k" + std::to_string(i) + "\":\"v\"";
  }
  if (dup >= 0) h += ",\"k" + std::to_string(dup) + "\":\"again\"";
  h += "}}";
  return slimcodec_test::craft_safetensors(h, 0);
}

}  // namespace

TEST_CASE("__metadata__ with the largest allowed key count parses; one more key is format_invalid") {
  auto f = SafeTensorsFile::from_bytes(metadata_file(kMaxMetadataKeys));
  REQUIRE(f);
  REQUIRE(f->metadata().size() == kMaxMetadataKeys);
  REQUIRE(f->metadata_value("k65535").value() == "v");

  auto over = SafeTensorsFile::from_bytes(metadata_file(kMaxMetadataKeys + 1));
  REQUIRE(over.code() == Errc::format_invalid);
  REQUIRE(std::string(over.error().what()).find("too many keys") != std::string::npos);
}

TEST_CASE("a duplicate __metadata__ key is found among many, wherever it is") {
  for (long dup : {0L, 777L, 49999L}) {
    INFO("duplicate of key " << dup);
    auto f = SafeTensorsFile::from_bytes(metadata_file(50000, dup));
    REQUIRE(f.code() == Errc::format_invalid);
    REQUIRE(std::string(f.error().what()).find("duplicate key in __metadata__") != std::string::npos);
  }
}

TEST_CASE("the writer rejects a duplicate metadata key among many") {
  Metadata meta;
  for (int i = 0; i < 50000; ++i) meta.emplace_back("k" + std::to_string(i), "v");
  REQUIRE(to_safetensors_bytes({}, meta));
  meta.emplace_back("k123", "again");
  REQUIRE(to_safetensors_bytes({}, meta).code() == Errc::invalid_argument);
}
