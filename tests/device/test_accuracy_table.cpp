// The accuracy table JSON: the paper file, what the loader fills in, and a typed error for every malformed file.
#include <slimcodec/device/accuracy_table.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace slimcodec;
using namespace slimcodec::device;

namespace {

const std::string kPaperJson = std::string(SLIMCODEC_TEST_DATA_DIR) + "/../docs/accuracy-paper.json";

}  // namespace

TEST_CASE("accuracy table: the paper's Table I file loads into the operating points") {
  auto t = load_accuracy_table(kPaperJson);
  REQUIRE(t);
  CHECK(t->metric == "mAP@[.5:.95]");
  CHECK(t->source.find("Table I") != std::string::npos);
  REQUIRE(t->configurations.size() == 16);
  CHECK(t->find(1, 1)->accuracy == Approx(14.5));
  CHECK(t->find(1, 4)->accuracy == Approx(34.3));
  CHECK(t->find(3, 2)->accuracy == Approx(29.4));
  CHECK(t->find(4, 4)->accuracy == Approx(36.8));
  CHECK(t->find(1, 5) == nullptr);
  CHECK_FALSE(t->full_offload.present);

  OperatingPointTable table;
  table.set_accuracy(2, 7, 99);  // enabled before: the file decides what is enabled
  apply_accuracy_table(*t, table);
  size_t enabled = 0;
  for (const auto& p : table.points()) enabled += p.enabled;
  CHECK(enabled == 16);
  CHECK_FALSE(table.at(2, 7).enabled);
  CHECK(table.at(2, 4).accuracy == Approx(36.1));
}

TEST_CASE("accuracy table: unknown members are skipped, alternatives reach the controller") {
  const char* text = R"({
    "metric": "top-1", "extra": {"x": [1.5, -2e-3, true, false, null, "s"]},
    "configurations": [{"s": 2, "b": 8, "accuracy": 71, "bytes": 55348.0, "note": null}],
    "full_offload": {"accuracy": 80.5, "bytes": 60000, "device_ms": 5, "server_ms": 30.25},
    "local_only": null
  })";
  auto t = parse_accuracy_table(text);
  REQUIRE(t);
  CHECK(t->source.empty());
  REQUIRE(t->configurations.size() == 1);
  CHECK(t->configurations[0].b == 8);
  CHECK(t->configurations[0].accuracy == 71);
  REQUIRE(t->full_offload.present);
  CHECK(t->full_offload.server_ms == Approx(30.25));
  CHECK_FALSE(t->local_only.present);
  OperatingPointTable table;
  Controller ctl;
  apply_accuracy_table(*t, table, &ctl);
  CHECK(ctl.full_offload().enabled);
  CHECK(ctl.full_offload().bytes == 60000);
  CHECK_FALSE(ctl.local_only().enabled);
}

TEST_CASE("accuracy table: every malformed file is a typed error") {
  const char* bad[] = {
      "",
      "[]",
      "{",
      "{\"metric\": \"m\"}",                                                     // no configurations
      "{\"metric\": \"m\", \"configurations\": []}",                             // empty
      "{\"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}]}",                // no metric
      "{\"metric\": 5, \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}]}",  // metric not a string
      "{\"metric\": \"m\", \"configurations\": {}}",                             // not an array
      "{\"metric\": \"m\", \"configurations\": [{\"s\":5,\"b\":1,\"accuracy\":1}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":0,\"b\":1,\"accuracy\":1}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":9,\"accuracy\":1}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1.0,\"b\":1,\"accuracy\":1}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":\"1\",\"b\":1,\"accuracy\":1}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"accuracy\":1}]}",       // no b
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1}]}",              // no accuracy
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":-1}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1e999}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":01}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1.}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":.5}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1,\"accuracy\":2}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1},{\"s\":1,\"b\":1,\"accuracy\":2}]}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}]} trailing",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}],}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}], \"x\": tru}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}], \"full_offload\": {}}",
      "{\"metric\": \"m\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}], \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
      "{\"metric\": \"\xff\", \"configurations\": [{\"s\":1,\"b\":1,\"accuracy\":1}]}",  // not UTF-8
  };
  for (const char* text : bad) {
    INFO(text);
    auto t = parse_accuracy_table(text);
    CHECK(t.code() == Errc::format_invalid);
    CHECK(t.error().detail != nullptr);
  }
  CHECK(load_accuracy_table(kPaperJson + ".missing").code() == Errc::io_error);
}
