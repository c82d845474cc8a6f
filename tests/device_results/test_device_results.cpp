// Each frame's task result reaches the device: a decode service whose backend detects (a fixed-answer detector
// here, so the test needs no model) replies with a result section, and the DeviceLoop hands the caller the frame
// id, whether the deadline was met and the boxes scaled to the device's frame, over TCP and over MQTT.
#include <slimcodec/device/device_loop.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/server/tcp_service.hpp>
#ifdef SLIMCODEC_DEVICE_RESULTS_MQTT
#include <slimcodec/device/mqtt_transport.hpp>
#include <slimcodec/server/mqtt_service.hpp>

#include "mqtt_test_support.hpp"
#endif

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::device;

namespace {

using PaperEncoder = model::Encoder<layers::paper::Encoder>;

// Answers every frame with the input unchanged and two detections whose box depends on the frame's first value,
// so a mix-up between frames would show.
class FixedDetector final : public server::DecoderBackend {
 public:
  std::string_view name() const override { return "test-detector"; }
  server::Detections detections() const override { return {dets_, 2}; }

 protected:
  Result<server::FeatureMap> run(const float* in, Shape shape) override {
    out_.assign(in, in + shape.size());
    dets_[0] = {3, 0.75f, 10.f, 20.f, 110.f, 220.f};
    dets_[1] = {0, 0.5f, -4.f, 0.f, 4.f, 8.f};
    return server::FeatureMap{out_.data(), shape};
  }

 private:
  std::vector<float> out_;
  wire::Detection dets_[2];
};

// A registry holding "test-detector" (the services add the built-in backends themselves).
std::unique_ptr<server::BackendRegistry> test_backends() {
  auto registry = std::make_unique<server::BackendRegistry>();
  registry->add("test-detector",
                [](const server::BackendOptions&) -> Result<std::unique_ptr<server::DecoderBackend>> {
                  return std::unique_ptr<server::DecoderBackend>(new FixedDetector);
                });
  return registry;
}

std::vector<float> test_input(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = float(int(i * 7919 % 1000) - 500) / 250.f;
  return x;
}

// Runs `frames` frames through the loop over `link` and checks what the caller gets.
void check_loop_results(FrameTransport& link, int frames) {
  auto enc = PaperEncoder::create(32, 32);
  REQUIRE(enc);
  enc->init_random(3);
  const std::vector<float> input = test_input(3 * 32 * 32);
  OperatingPointTable table(6 * 8 * 8);
  table.set_accuracy(1, 2, 10);
  table.set_accuracy(2, 4, 20);
  DeviceLoopOptions o;
  o.controller.deadline_ms = 5000;  // generous: the test checks what arrives, not speed
  o.prior_bytes_per_s = 1e6;
  o.box_scale_x = 2.f;   // e.g. a 1024-pixel-wide frame seen by a 512-pixel model input
  o.box_scale_y = 0.5f;
  DeviceLoop<PaperEncoder> loop(*enc, link, table, o);
  for (int i = 0; i < frames; ++i) {
    auto r = loop.process(input.data());
    REQUIRE(r);
    INFO("frame " << r->frame_id << " status " << int(r->status));
    REQUIRE(r->plan == Plan::split);
    REQUIRE(r->frame_id == uint32_t(i + 1));
    REQUIRE(r->status == Errc::ok);
    REQUIRE(r->deadline_met);
    REQUIRE(r->detection_count == 2);
    const wire::Detection& a = r->detections[0];
    CHECK(a.class_id == 3);
    CHECK(a.score == 0.75f);
    CHECK((a.x1 == 20.f && a.y1 == 10.f && a.x2 == 220.f && a.y2 == 110.f));
    const wire::Detection& b = r->detections[1];
    CHECK((b.class_id == 0 && b.score == 0.5f && b.x1 == -8.f && b.y2 == 4.f));
  }
}

}  // namespace

TEST_CASE("device loop over TCP: each frame's detections reach the caller with its id and deadline") {
  const auto backends = test_backends();
  asio::io_context io;
  server::ServiceOptions so;
  so.workers = 1;
  so.backend = "test-detector";
  so.registry = backends.get();
  auto service = server::TcpService::create(io, so);
  REQUIRE(service);
  (*service)->start();
  std::thread io_thread([&] { io.run(); });
  {
    TcpTransport link;
    REQUIRE(link.connect("127.0.0.1", (*service)->port()));
    check_loop_results(link, 4);
    link.close();
  }
  (*service)->shutdown();
  io_thread.join();
}

TEST_CASE("device loop: timeouts and error replies carry no detections") {
  // A scripted link: frame 1 times out, frame 2 gets an error reply that (wrongly) lists a detection.
  struct Script final : FrameTransport {
    int calls = 0;
    Result<void> send_frame(const uint8_t*, size_t) override { return {}; }
    Result<wire::Reply> receive_reply(std::chrono::milliseconds) override {
      if (++calls == 1) return Error{Errc::timed_out, "scripted"};
      wire::Reply r;
      r.frame_id = 2;
      r.status = Errc::backend_failed;
      r.detection_count = 1;
      return r;
    }
  } link;
  auto enc = PaperEncoder::create(16, 16);
  REQUIRE(enc);
  enc->init_random(1);
  const std::vector<float> input = test_input(3 * 16 * 16);
  OperatingPointTable table(6 * 4 * 4);
  table.set_accuracy(1, 1, 10);
  DeviceLoopOptions o;
  o.prior_bytes_per_s = 1e6;
  o.controller.deadline_ms = 1000;
  DeviceLoop<PaperEncoder> loop(*enc, link, table, o);
  auto r1 = loop.process(input.data());
  REQUIRE(r1);
  CHECK(r1->status == Errc::timed_out);
  CHECK(r1->detection_count == 0);
  CHECK_FALSE(r1->deadline_met);
  auto r2 = loop.process(input.data());
  REQUIRE(r2);
  CHECK(r2->status == Errc::backend_failed);
  CHECK(r2->detection_count == 0);
  CHECK_FALSE(r2->deadline_met);
}

#ifdef SLIMCODEC_DEVICE_RESULTS_MQTT
TEST_CASE("device loop over MQTT (MqttTransport): each frame's detections reach the caller") {
  using namespace mqtt_test;
  if (!broker_available()) {
    WARN("skipped: no mosquitto broker at " << broker_path() << " (Debian: apt-get install mosquitto)");
    return;
  }
  const auto backends = test_backends();
  Broker broker;
  server::MqttServiceOptions so;
  so.port = broker.port();
  so.workers = 1;
  so.backend = "test-detector";
  so.registry = backends.get();
  auto worker = server::MqttDecodeService::start(so);
  INFO((worker ? "" : worker.error().what()));
  REQUIRE(worker);
  auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "detector-cam", std::chrono::seconds(10)));
  REQUIRE(device);
  MqttTransport link(**device);
  check_loop_results(link, 4);
}
#endif
