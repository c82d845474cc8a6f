// The link shaper on loopback: it holds a steady trace's rate within 10 %, follows a step, passes nothing during a
// drop, and carries replies back. Each case moves well under a second of data.
#include <emulation/link_shaper.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::emulation;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kTraces = std::string(SLIMCODEC_TEST_DATA_DIR) + "/../traces/";

// A server that takes one connection, reads everything (recording when each byte arrived), then writes `reply`.
struct Sink {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::vector<std::pair<Clock::time_point, size_t>> arrivals;  // (time, cumulative bytes)
  std::string reply;
  std::thread thread;

  void start() {
    thread = std::thread([this] {
      asio::ip::tcp::socket s(io);
      acceptor.accept(s);
      std::vector<uint8_t> buf(65536);
      size_t total = 0;
      asio::error_code ec;
      for (;;) {
        const size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        total += n;
        arrivals.emplace_back(Clock::now(), total);
      }
      if (!reply.empty()) asio::write(s, asio::buffer(reply), ec);
    });
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  ~Sink() {
    if (thread.joinable()) thread.join();
  }

  // Bytes that had arrived by `t` seconds after `epoch`.
  size_t bytes_by(Clock::time_point epoch, double t) const {
    size_t got = 0;
    for (const auto& a : arrivals)
      if (std::chrono::duration<double>(a.first - epoch).count() <= t) got = a.second;
    return got;
  }
};

struct Shaped {
  Sink sink;
  asio::io_context io;
  std::unique_ptr<LinkShaper> shaper;
  std::thread thread;

  explicit Shaped(LinkTrace trace) {
    sink.start();
    ShaperOptions o;
    o.upstream_port = sink.port();
    auto s = LinkShaper::create(io, std::move(trace), o);
    REQUIRE(s);
    shaper = std::move(*s);
    shaper->start();
    thread = std::thread([this] { io.run(); });
  }
  ~Shaped() {
    shaper->shutdown();
    io.stop();
    if (thread.joinable()) thread.join();
  }

  // Sends n bytes through the shaper; returns the reply the sink sent back (read until it closes).
  std::string send(size_t n, Clock::time_point* epoch) {
    asio::io_context cio;
    asio::ip::tcp::socket c(cio);
    c.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), shaper->port()));
    shaper->restart_trace();
    *epoch = shaper->trace_epoch();
    std::vector<uint8_t> data(n, 0x5a);
    asio::write(c, asio::buffer(data));
    c.shutdown(asio::ip::tcp::socket::shutdown_send);
    std::string back;
    asio::error_code ec;
    char buf[256];
    for (;;) {
      const size_t m = c.read_some(asio::buffer(buf), ec);
      if (ec) break;
      back.append(buf, m);
    }
    return back;
  }
};

}  // namespace

TEST_CASE("shaper: a steady trace's rate within 10 %, and the reply comes back") {
  auto trace = LinkTrace::load(kTraces + "steady.csv");  // 150 kB/s
  REQUIRE(trace);
  Shaped link(*trace);
  link.sink.reply = "reply: all bytes seen";
  Clock::time_point epoch;
  const size_t n = 120000;
  const std::string back = link.send(n, &epoch);
  CHECK(back == link.sink.reply);
  REQUIRE(!link.sink.arrivals.empty());
  REQUIRE(link.sink.arrivals.back().second == n);
  const double seconds = std::chrono::duration<double>(link.sink.arrivals.back().first - epoch).count();
  const double rate = double(n) / seconds;
  INFO("measured " << rate << " B/s over " << seconds << " s");
  CHECK(rate == Approx(150e3).epsilon(0.10));
  CHECK(link.shaper->stats().bytes_up == n);
  CHECK(link.shaper->stats().bytes_down == back.size());
}

TEST_CASE("shaper: follows a step up within 10 % on each side") {
  auto step = LinkTrace::load(kTraces + "step.csv");  // 100 kB/s for 5 s, then 400 kB/s
  REQUIRE(step);
  auto fast = step->time_scaled(5);  // the step at 1 s
  REQUIRE(fast);
  Shaped link(*fast);
  Clock::time_point epoch;
  link.send(340000, &epoch);  // 100 kB in the first second, the other 240 kB at 400 kB/s: done at 1.6 s
  const auto& sink = link.sink;
  const double slow = double(sink.bytes_by(epoch, 0.9) - sink.bytes_by(epoch, 0.1)) / 0.8;
  const double quick = double(sink.bytes_by(epoch, 1.5) - sink.bytes_by(epoch, 1.1)) / 0.4;
  INFO("before the step " << slow << " B/s, after " << quick << " B/s");
  CHECK(slow == Approx(100e3).epsilon(0.10));
  CHECK(quick == Approx(400e3).epsilon(0.10));
}

TEST_CASE("shaper: nothing passes during a drop") {
  auto trace = LinkTrace::from_points({{0, 200e3}, {0.2, 0}, {0.5, 200e3}, {1.0, 200e3}});
  REQUIRE(trace);
  Shaped link(*trace);
  Clock::time_point epoch;
  link.send(80000, &epoch);  // 40 kB before the drop, 40 kB after: done at 0.7 s
  const auto& sink = link.sink;
  const size_t at_drop = sink.bytes_by(epoch, 0.22), end_of_drop = sink.bytes_by(epoch, 0.48);
  INFO("bytes at 0.22 s: " << at_drop << ", at 0.48 s: " << end_of_drop);
  CHECK(end_of_drop - at_drop <= 1500);  // at most one bucket of bytes granted before the drop began
  CHECK(double(at_drop) == Approx(40000).epsilon(0.12));
  const double done = std::chrono::duration<double>(sink.arrivals.back().first - epoch).count();
  CHECK(done == Approx(0.7).epsilon(0.10));
}
