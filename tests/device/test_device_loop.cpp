// The device loop: the real encoder (small input) -> frame -> shaped loopback link -> in-process decode service
// (identity backend) -> reply; and, with a scripted transport, the timeout and stale-reply paths.
#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/device/calibration.hpp>
#include <slimcodec/device/device_loop.hpp>
#include <emulation/link_shaper.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/callback.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/server/tcp_service.hpp>

#include <catch2/catch.hpp>

#include <deque>
#include <string>
#include <thread>

using namespace slimcodec;
using namespace slimcodec::device;
using namespace slimcodec::emulation;

namespace {

using PaperEncoder = model::Encoder<layers::paper::Encoder>;

const std::string kRoot = std::string(SLIMCODEC_TEST_DATA_DIR) + "/..";

// Decode service and shaper, each on its own io thread; the shaper forwards to the service.
struct Server {
  asio::io_context service_io, shaper_io;
  std::unique_ptr<server::TcpService> service;
  std::unique_ptr<LinkShaper> shaper;
  std::thread service_thread, shaper_thread;

  explicit Server(LinkTrace trace) {
    server::ServiceOptions so;
    so.workers = 1;
    so.backend = "identity";
    auto s = server::TcpService::create(service_io, so);
    REQUIRE(s);
    service = std::move(*s);
    service->start();
    ShaperOptions sh;
    sh.upstream_port = service->port();
    auto p = LinkShaper::create(shaper_io, std::move(trace), sh);
    REQUIRE(p);
    shaper = std::move(*p);
    shaper->start();
    service_thread = std::thread([this] { service_io.run(); });
    shaper_thread = std::thread([this] { shaper_io.run(); });
  }
  ~Server() {
    shaper->shutdown();
    shaper_io.stop();
    service->shutdown();
    service_thread.join();
    shaper_thread.join();
  }
};

OperatingPointTable paper_table() {
  OperatingPointTable table(6 * 32 * 32);  // the 128 x 128 input's bottleneck
  auto acc = load_accuracy_table(kRoot + "/docs/accuracy-paper.json");
  REQUIRE(acc);
  apply_accuracy_table(*acc, table);
  return table;
}

std::vector<float> test_input(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = float(int(i * 7919 % 1000) - 500) / 250.f;
  return x;
}

struct LoopRun {
  std::vector<FrameRecord> records;
};

LoopRun run_loop(double bytes_per_s, double deadline_ms, int frames, OperatingPointTable& table) {
  auto trace = LinkTrace::constant(bytes_per_s, 60);
  REQUIRE(trace);
  Server server(*trace);
  auto enc = PaperEncoder::create(128, 128);
  REQUIRE(enc);
  enc->init_random(7);
  const std::vector<float> input = test_input(3 * 128 * 128);

  TcpTransport link;
  REQUIRE(link.connect("127.0.0.1", server.shaper->port()));
  DeviceLoopOptions o;
  o.controller.deadline_ms = deadline_ms;
  o.prior_bytes_per_s = bytes_per_s / 2;
  DeviceLoop<PaperEncoder> loop(*enc, link, table, o);
  auto calibrated = calibrate_encoder(loop.frame_encoder(), input.data(), 4, table, CalibrationOptions{1, 3, 4});
  REQUIRE(calibrated);
  CHECK((*calibrated)[3] > 0);
  CHECK(table.at(4, 2).encoder_ms == (*calibrated)[3]);

  LoopRun run;
  for (int i = 0; i < frames; ++i) {
    auto r = loop.process(input.data());
    REQUIRE(r);
    run.records.push_back(*r);
  }
  link.close();
  return run;
}

// A transport that plays a script of replies: "timeout" or a frame id to answer.
class ScriptedTransport final : public FrameTransport {
 public:
  std::deque<std::pair<bool, wire::Reply>> script;  // (timed out?, reply)
  std::vector<size_t> sent;

  Result<void> send_frame(const uint8_t*, size_t n) override {
    sent.push_back(n);
    return {};
  }
  Result<wire::Reply> receive_reply(std::chrono::milliseconds) override {
    if (script.empty()) return Error{Errc::io_error, "script over"};
    auto [timed_out, reply] = script.front();
    script.pop_front();
    if (timed_out) return Error{Errc::timed_out, "scripted timeout"};
    return reply;
  }
  void answer(uint32_t id, Errc status = Errc::ok, uint32_t decode_us = 2000) {
    wire::Reply r;
    r.frame_id = id;
    r.status = status;
    r.decode_us = decode_us;
    script.emplace_back(false, r);
  }
  void time_out() { script.emplace_back(true, wire::Reply{}); }
};

}  // namespace

TEST_CASE("device loop over a shaped link meets a generous deadline with the best configuration") {
  OperatingPointTable table = paper_table();
  // 3,124-byte frames at s=4 b=4: about 31 ms on a 100 kB/s link, far inside 400 ms.
  const LoopRun run = run_loop(100e3, 400, 12, table);
  uint32_t id = 0;
  for (const FrameRecord& r : run.records) {
    INFO("frame " << r.frame_id << " s=" << r.s << " b=" << r.b << " rtt " << r.rtt_ms << " ms");
    CHECK(r.plan == Plan::split);
    CHECK(r.status == Errc::ok);
    CHECK(r.deadline_met);
    CHECK(r.frame_id == ++id);
    CHECK(r.bytes == max_frame_size(6 * 32 * 32, r.b));
    CHECK(r.rtt_ms >= r.encode_ms + r.server_ms);
    CHECK(r.rtt_ms >= double(r.bytes) / 100e3 * 1000 * 0.85);  // the link really was shaped
  }
  const FrameRecord& last = run.records.back();
  CHECK((last.s == 4 && last.b == 4));
  // Measured from send/ack timing: never above the link; below it only by what a loaded machine adds to the RTT.
  CHECK(last.estimate_bytes_per_s <= 100e3 * 1.1);
  CHECK(last.estimate_bytes_per_s >= 100e3 * 0.4);
  CHECK(table.at(4, 4).server_ms > 0);
}

TEST_CASE("device loop on a slow link steps down to what fits") {
  OperatingPointTable table = paper_table();
  // At 20 kB/s and 150 ms: b=4 (3,124 B, 156 ms on the wire) cannot fit; b=2 (1,588 B, 79 ms) can.
  const LoopRun run = run_loop(20e3, 150, 10, table);
  int hits = 0;
  for (size_t i = 0; i < run.records.size(); ++i) {
    const FrameRecord& r = run.records[i];
    INFO("frame " << r.frame_id << " s=" << r.s << " b=" << r.b << " rtt " << r.rtt_ms << " ms");
    hits += r.deadline_met;
    if (i >= 2) CHECK(r.b < 4);
  }
  CHECK(hits >= 8);
}

TEST_CASE("device loop: a timed-out frame is a miss, its late reply is skipped, stream errors end the loop") {
  auto enc = PaperEncoder::create(16, 16);
  REQUIRE(enc);
  enc->init_random(1);
  const std::vector<float> input = test_input(3 * 16 * 16);
  OperatingPointTable table(6 * 4 * 4);
  table.set_accuracy(1, 1, 10);
  table.set_accuracy(1, 2, 20);
  ScriptedTransport link;
  DeviceLoopOptions o;
  o.controller.deadline_ms = 1000;
  o.prior_bytes_per_s = 1e6;
  DeviceLoop<PaperEncoder> loop(*enc, link, table, o);

  link.time_out();  // frame 1
  auto r1 = loop.process(input.data());
  REQUIRE(r1);
  CHECK(r1->status == Errc::timed_out);
  CHECK_FALSE(r1->deadline_met);
  CHECK(loop.bandwidth().has_estimate());  // the timeout taught it something

  link.answer(1);  // the late reply to frame 1, then frame 2's
  link.answer(2, Errc::ok, 3500);
  auto r2 = loop.process(input.data());
  REQUIRE(r2);
  CHECK(r2->frame_id == 2);
  CHECK(r2->status == Errc::ok);
  CHECK(r2->server_ms == Approx(3.5));
  CHECK(r2->deadline_met);
  CHECK(link.script.empty());

  link.answer(3, Errc::crc_mismatch);  // the server could not decode this one
  auto r3 = loop.process(input.data());
  REQUIRE(r3);
  CHECK(r3->status == Errc::crc_mismatch);
  CHECK_FALSE(r3->deadline_met);

  link.answer(0, Errc::bad_magic);  // the server gave up on the stream
  CHECK(loop.process(input.data()).code() == Errc::bad_magic);
  link.script.clear();
  CHECK(loop.process(input.data()).code() == Errc::io_error);  // the transport is gone
  CHECK(link.sent.size() == 5);
}
