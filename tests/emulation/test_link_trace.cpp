// Link traces: the text format (good files, every error with its line), the committed traces, and the integrals the
// shaper and the simulator rely on.
#include <emulation/link_trace.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

using namespace slimcodec;
using namespace slimcodec::emulation;

namespace {

const std::string kTraces = std::string(SLIMCODEC_TEST_DATA_DIR) + "/../traces/";

Errc parse_error(const char* text, size_t* line = nullptr) { return LinkTrace::parse(text, line).code(); }

}  // namespace

TEST_CASE("trace: comments, header, blank lines, CRLF and spaces are accepted") {
  const char* text =
      "# a comment\r\n"
      "\n"
      "time_s,bytes_per_s\r\n"
      "0, 1000   # trailing comment\n"
      " 0.5 ,0\r\n"
      "1.5,2e3\n"
      "2,2000";  // no final newline
  auto t = LinkTrace::parse(text);
  REQUIRE(t);
  REQUIRE(t->points().size() == 4);
  CHECK(t->duration_s() == 2.0);
  CHECK(t->rate_at(0.25) == 1000);
  CHECK(t->rate_at(0.5) == 0);     // a row's rate starts at its own time
  CHECK(t->rate_at(1.0) == 0);
  CHECK(t->rate_at(1.5) == 2000);
  CHECK(t->rate_at(99) == 2000);  // the last rate holds after the end
  CHECK(t->rate_at(-1) == 1000);
}

TEST_CASE("trace: every malformed input is a typed error with its line number") {
  struct Case {
    const char* text;
    size_t line;
  };
  const Case cases[] = {
      {"", 0},                                   // no rows at all
      {"# only a comment\ntime_s,bytes_per_s\n", 2},  // header, no rows
      {"0,100\nabc,100\n", 2},                  // not a number
      {"0,100\n1\n", 2},                         // one field
      {"0,100\n1,2,3\n", 2},                     // three fields
      {"0,100\n1,\n", 2},                        // empty field
      {"1,100\n2,100\n", 1},                     // does not start at 0
      {"0,100\n1,100\n1,200\n", 3},              // time not increasing
      {"0,100\n2,100\n1,200\n", 3},              // time going back
      {"0,-5\n", 1},                             // negative rate
      {"0,nan\n", 1},                            // words are not numbers
      {"0,inf\n", 1},
      {"0,1e400\n", 1},                          // overflows a double
      {"0,1e13\n", 1},                           // above the rate limit
      {"0,0x10\n", 1},                           // hex is not accepted
      {"0,100\ntime_s,bytes_per_s\n", 2},        // a header only as the first row
      {"0;100\n", 1},                            // wrong separator
  };
  for (const Case& c : cases) {
    INFO(c.text);
    size_t line = 12345;
    CHECK(parse_error(c.text, &line) == Errc::format_invalid);
    CHECK(line == c.line);
  }
  CHECK(LinkTrace::load(kTraces + "no-such-trace.csv").code() == Errc::io_error);
  CHECK(LinkTrace::from_points({}).code() == Errc::format_invalid);
  CHECK(LinkTrace::constant(100, 0).code() == Errc::invalid_argument);
}

TEST_CASE("trace: the committed traces parse and have the documented shape") {
  for (const char* name : {"steady.csv", "step.csv", "office_walk.csv", "office_walk_tune.csv"}) {
    INFO(name);
    size_t line = 0;
    auto t = LinkTrace::load(kTraces + name, &line);
    REQUIRE(t);
  }
  auto steady = LinkTrace::load(kTraces + "steady.csv");
  CHECK(steady->mean_rate() == Approx(150e3));
  auto step = LinkTrace::load(kTraces + "step.csv");
  CHECK(step->rate_at(4.9) == 100e3);
  CHECK(step->rate_at(5.0) == 400e3);
  auto walk = LinkTrace::load(kTraces + "office_walk.csv");
  REQUIRE(walk->duration_s() == Approx(300));
  size_t drops = 0;
  double lo = 1e12, hi = 0;
  const auto& p = walk->points();
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i].bytes_per_s == 0) {
      drops += i > 0 && p[i - 1].bytes_per_s > 0;
      continue;
    }
    lo = std::min(lo, p[i].bytes_per_s);
    hi = std::max(hi, p[i].bytes_per_s);
  }
  CHECK(lo >= 80e3);  // the paper's 80-200 kB/s band, outside the drops
  CHECK(hi <= 200e3);
  CHECK(drops >= 2);
}

TEST_CASE("trace: integrals and transfer finish times are exact across drops") {
  // 1000 B/s for 1 s, a 1 s drop, then 4000 B/s.
  auto t = LinkTrace::from_points({{0, 1000}, {1, 0}, {2, 4000}, {3, 4000}});
  REQUIRE(t);
  CHECK(t->bytes_until(0.5) == Approx(500));
  CHECK(t->bytes_between(0.5, 1.5) == Approx(500));
  CHECK(t->bytes_between(0.5, 2.5) == Approx(2500));
  CHECK(t->bytes_between(3, 4) == Approx(4000));  // after the end: the last rate
  CHECK(t->finish_time(0, 0) == 0);
  CHECK(t->finish_time(0.2, 500) == Approx(0.7));
  CHECK(t->finish_time(0.5, 500) == Approx(1.0));    // exactly as the drop starts
  CHECK(t->finish_time(0.5, 600) == Approx(2.025));  // waits out the drop
  CHECK(t->finish_time(1.2, 100) == Approx(2.025));  // starts inside the drop
  CHECK(t->finish_time(2.5, 10000) == Approx(5.0));  // runs past the end
  auto dead = LinkTrace::from_points({{0, 1000}, {1, 0}});
  CHECK(std::isinf(dead->finish_time(0.5, 600)));  // rate 0 forever: never

  auto w = t->window(0.5, 2.0);  // [0.5, 2.5]
  CHECK(w.duration_s() == Approx(2.0));
  CHECK(w.bytes_until(2.0) == Approx(t->bytes_between(0.5, 2.5)));
  auto fast = t->time_scaled(10);
  REQUIRE(fast);
  CHECK(fast->duration_s() == Approx(0.3));
  CHECK(fast->rate_at(0.15) == 0);
  CHECK(t->time_scaled(0).code() == Errc::invalid_argument);
}
