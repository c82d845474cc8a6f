// The MQTT decode service in-process against a private mosquitto: two workers of one shared-subscription group
// serving several devices (each frame answered exactly once), and messages that are not frames. Loopback only,
// bounded in count and time.
#include "mqtt_test_support.hpp"
#include "mqtt_worker_options.hpp"

#include <slimcodec/server/callback.hpp>
#include <slimcodec/server/mqtt_service.hpp>

#include <atomic>
#include <mutex>
#include <set>

using namespace slimcodec;
using namespace mqtt_test;

namespace {

std::unique_ptr<server::MqttDecodeService> start_worker(const Broker& broker, const std::string& id,
                                                        std::shared_ptr<const entropy::TableSet> tables = nullptr) {
  server::MqttServiceOptions o = worker_options(broker, id, 2);
  o.entropy_tables = std::move(tables);
  auto svc = server::MqttDecodeService::start(o);
  INFO(svc.error().what());
  REQUIRE(svc);
  return std::move(*svc);
}

// Waits until `pred` holds (polling), at most `timeout`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Tables fitted to N(0, 1) codes at b = 4 with bounds [-3, 3] (make_frame's), 6 channels, id 3.
std::shared_ptr<const entropy::TableSet> gaussian_tables() {
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.f, 1.f);
  const quant::QuantParams qp = quant::make_params(4, quant::Bounds{-3.f, 3.f});
  std::vector<uint64_t> counts(16, 1);
  for (int i = 0; i < 20000; ++i) ++counts[quant::ref::quantize_value(normal(rng), qp)];
  std::vector<uint16_t> freqs(6 * 16);
  for (unsigned c = 0; c < 6; ++c) entropy::fit_frequencies(counts.data(), 4, freqs.data() + c * 16);
  const uint16_t* by_bits[entropy::kMaxBits + 1] = {};
  by_bits[4] = freqs.data();
  auto tables = entropy::TableSet::create(3, 6, by_bits);
  REQUIRE(tables);
  return std::make_shared<const entropy::TableSet>(std::move(*tables));
}

// N(0, 1) values as a codec-1 frame (6 x 16 x 16, b = 4); the digest is of the values decoded with `tables`.
TestFrame make_codec1_frame(uint32_t id, const entropy::TableSet& tables) {
  TestFrame f = test::make_frame(id, 4, 6, 16, 16, id, &tables);
  REQUIRE(f.bytes[wire::offset::kCodec] == uint8_t(wire::Codec::rans));
  return f;
}

}  // namespace

TEST_CASE("codec-1 frames: decoded with the worker's tables; a worker without tables answers entropy_table_mismatch") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  const auto tables = gaussian_tables();
  std::vector<TestFrame> frames;
  for (uint32_t i = 0; i < 10; ++i) frames.push_back(make_codec1_frame(700 + i, *tables));
  SECTION("with tables") {
    auto worker = start_worker(broker, "test-worker-tables", tables);
    auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "coded", 10s));
    REQUIRE(device);
    const DeviceTally t = drive_device(**device, frames, 4, 30s);
    INFO(t.first_problem);
    CHECK(t.complete(frames.size()));
    worker->shutdown();
    CHECK(worker->stats().frames_decode_failed == 0);
  }
  SECTION("without tables") {
    auto worker = start_worker(broker, "test-worker-no-tables");
    auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "coded", 10s));
    REQUIRE(device);
    REQUIRE((*device)->publish(frames[0].bytes.data(), frames[0].bytes.size()));
    std::optional<device::DeviceReply> got;
    const auto end = Clock::now() + 30s;
    while (!got && Clock::now() < end) {
      auto r = (*device)->receive(100ms);
      REQUIRE(r);
      if (*r) got = **r;
    }
    REQUIRE(got);
    CHECK(got->reply.frame_id == 700);
    CHECK(got->reply.status == Errc::entropy_table_mismatch);
    worker->shutdown();
    CHECK(worker->stats().frames_decode_failed == 1);
    CHECK(worker->stats().frames_answered == 1);
  }
}

TEST_CASE("two workers share several devices' frames: each answered exactly once, right digest, both busy") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  auto w1 = start_worker(broker, "test-worker-1");
  auto w2 = start_worker(broker, "test-worker-2");

  constexpr int kDevices = 4, kFrames = 100;
  std::vector<std::vector<TestFrame>> frames(kDevices);
  std::vector<std::unique_ptr<device::MqttDeviceClient>> devices;
  for (int d = 0; d < kDevices; ++d) {
    for (int i = 0; i < kFrames; ++i) frames[d].push_back(make_mixed_frame(uint32_t(d * 1000 + i)));
    auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "cam" + std::to_string(d), 10s));
    INFO(device.error().what());
    REQUIRE(device);
    devices.push_back(std::move(*device));
  }
  std::vector<DeviceTally> tallies(kDevices);
  std::vector<std::thread> threads;
  for (int d = 0; d < kDevices; ++d)
    threads.emplace_back([&, d] { tallies[d] = drive_device(*devices[d], frames[d], 16, 60s); });
  for (auto& t : threads) t.join();

  for (int d = 0; d < kDevices; ++d) {
    INFO("device " << d << ": " << tallies[d].answered << " answered, " << tallies[d].first_problem);
    CHECK(tallies[d].complete(kFrames));
    CHECK(devices[d]->pending() == 0);
    CHECK(devices[d]->stats().frames_published == kFrames);
  }
  const uint64_t got1 = w1->stats().frames_received, got2 = w2->stats().frames_received;
  INFO("worker 1 took " << got1 << " frames, worker 2 took " << got2);
  CHECK(got1 > 0);  // the broker hands the group's messages round robin
  CHECK(got2 > 0);
  CHECK(got1 + got2 >= uint64_t(kDevices * kFrames));  // more only if a device re-published after its timeout

  w1->shutdown();
  w2->shutdown();
  for (auto* w : {w1.get(), w2.get()}) {
    CHECK(w->stats().frames_answered == w->stats().frames_received);
    CHECK(w->stats().replies_acked == w->stats().frames_answered);
    CHECK(w->stats().bad_messages == 0);
    CHECK(w->stats().frames_unanswered == 0);
    CHECK(w->stats().messages_dropped_closing == 0);
  }
}

TEST_CASE("messages that are not frames: error reply when there is a response topic, else dropped; worker serves on") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  auto worker = start_worker(broker, "test-worker-bad");

  // A raw client stands in for a broken device: it publishes arbitrary payloads and collects what comes back.
  struct Received {
    std::vector<uint8_t> payload;
    std::optional<std::vector<uint8_t>> correlation;
  };
  std::mutex mutex;
  std::vector<Received> received;
  mqtt::Connection::Handlers handlers;
  handlers.on_message = [&](const mqtt::Message& m) {
    std::lock_guard<std::mutex> lock(mutex);
    received.push_back({std::vector<uint8_t>(m.payload, m.payload + m.size), mqtt::read_correlation_data(m.properties)});
  };
  mqtt::ConnectOptions co;
  co.port = broker.port();
  co.client_id = "test-raw-device";
  auto raw = mqtt::Connection::open(co, handlers);
  REQUIRE(raw);
  const std::string reply_topic = mqtt::reply_topic("slimcodec", "raw");
  REQUIRE((*raw)->subscribe(reply_topic, 1));
  auto send = [&](const std::vector<uint8_t>& payload, std::optional<std::string> response_topic,
                  std::optional<uint32_t> correlation) {
    mosquitto_property* props = nullptr;
    if (response_topic) mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic->c_str());
    const auto c = mqtt::correlation(correlation.value_or(0));
    if (correlation) mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, c.data(), uint16_t(c.size()));
    const mqtt::Properties owned(props);
    REQUIRE((*raw)->publish(mqtt::frame_topic("slimcodec", "raw"), payload.data(), payload.size(), 1, props));
  };

  std::vector<uint8_t> garbage(300);
  std::mt19937 rng(7);
  for (auto& b : garbage) b = uint8_t(rng());
  garbage[0] = 'X';
  const TestFrame good = make_frame(50, 4, 6, 12, 11);
  std::vector<uint8_t> truncated(good.bytes.begin(), good.bytes.begin() + 60);
  std::vector<uint8_t> trailing = good.bytes;
  trailing.push_back(0);
  std::vector<uint8_t> corrupted = good.bytes;
  corrupted[wire::kHeaderSize + 3] ^= 0x40;

  // Answerable bad messages, each with its expected status; the correlation data carries the id to match on.
  const std::vector<std::pair<std::vector<uint8_t>, Errc>> answerable = {
      {garbage, Errc::bad_magic},          {truncated, Errc::truncated},    {trailing, Errc::length_mismatch},
      {corrupted, Errc::crc_mismatch},     {std::vector<uint8_t>{}, Errc::truncated},
  };
  for (size_t i = 0; i < answerable.size(); ++i) send(answerable[i].first, reply_topic, uint32_t(77 + i));
  send(garbage, std::nullopt, 90u);                     // no response topic: nobody to answer
  send(good.bytes, std::nullopt, 91u);                  // even a good frame is not decoded for nobody
  send(good.bytes, std::string("elsewhere/x"), 92u);    // a worker publishes only under slimcodec/replies/
  send(garbage, std::string("slimcodec/replies/+"), 93u);  // nor to a wildcard

  REQUIRE(eventually([&] { return worker->stats().messages_received == answerable.size() + 4; }));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return received.size() >= answerable.size();
  }));
  std::this_thread::sleep_for(300ms);  // room for any reply that should not come
  {
    std::lock_guard<std::mutex> lock(mutex);
    REQUIRE(received.size() == answerable.size());
    std::set<uint32_t> ids;
    for (const auto& r : received) {
      auto reply = wire::parse_reply(r.payload.data(), r.payload.size());
      REQUIRE(reply);
      REQUIRE(reply->frame_id >= 77);
      REQUIRE(reply->frame_id < 77 + answerable.size());
      INFO("message " << reply->frame_id - 77 << ": status " << message(reply->status));
      CHECK(reply->status == answerable[reply->frame_id - 77].second);
      CHECK(reply->digest == 0);
      REQUIRE(r.correlation);  // echoed unchanged
      const auto expected = mqtt::correlation(reply->frame_id);
      CHECK(*r.correlation == std::vector<uint8_t>(expected.begin(), expected.end()));
      ids.insert(reply->frame_id);
    }
    CHECK(ids.size() == answerable.size());
  }
  CHECK(worker->stats().bad_messages == answerable.size() + 2);  // + garbage without a topic, + wildcard topic
  CHECK(worker->stats().bad_messages_answered == answerable.size());
  CHECK(worker->stats().messages_dropped == 4);
  CHECK(worker->stats().frames_received == 0);

  // The worker keeps serving real devices.
  auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "after-bad", 10s));
  REQUIRE(device);
  std::vector<TestFrame> frames;
  for (uint32_t i = 0; i < 20; ++i) frames.push_back(make_mixed_frame(500 + i));
  const DeviceTally t = drive_device(**device, frames, 8, 30s);
  INFO(t.first_problem);
  CHECK(t.complete(frames.size()));
  CHECK(worker->stats().frames_received == frames.size());
}

TEST_CASE("device client: gives a frame up after max_attempts when no worker answers") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;  // no worker joins the group: frames go nowhere
  auto o = device_options(broker.port(), "lonely", 100ms);
  o.max_attempts = 3;
  auto device = device::MqttDeviceClient::connect(o);
  REQUIRE(device);
  const TestFrame f = make_frame(7, 2, 1, 4, 4);
  const auto start = Clock::now();
  REQUIRE((*device)->publish(f.bytes.data(), f.bytes.size()));
  CHECK((*device)->publish(f.bytes.data(), f.bytes.size()).code() == Errc::invalid_argument);  // id still pending
  auto got = (*device)->receive(5s);
  REQUIRE(got);
  REQUIRE(*got);
  CHECK((*got)->gave_up);
  CHECK((*got)->attempts == 3);
  CHECK((*got)->reply.frame_id == 7);
  CHECK((*got)->reply.status == Errc::io_error);
  CHECK(Clock::now() - start >= 300ms);  // three publishes, 100 ms apart, then the last timeout
  CHECK((*device)->stats().republished == 2);
  CHECK((*device)->stats().given_up == 1);
  CHECK((*device)->pending() == 0);
  // Bad input never reaches the broker.
  std::vector<uint8_t> junk(10, 0xAB);
  CHECK((*device)->publish(junk.data(), junk.size()).code() == Errc::truncated);
  std::vector<uint8_t> trailing = f.bytes;
  trailing.push_back(1);
  CHECK((*device)->publish(trailing.data(), trailing.size()).code() == Errc::length_mismatch);
}

TEST_CASE("a worker slower than the reply timeout: frames re-published and answered twice, handed out once") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  server::BackendRegistry backends;
  backends.add("slow-identity-mqtt", [](const server::BackendOptions&) {
    return Result<std::unique_ptr<server::DecoderBackend>>(std::make_unique<server::CallbackBackend>(
        "slow-identity-mqtt",
        [](const float* in, Shape shape, std::vector<float>& out, Shape& out_shape) {
          std::this_thread::sleep_for(150ms);
          out.assign(in, in + shape.size());
          out_shape = shape;
          return Result<void>{};
        }));
  });
  Broker broker;
  server::MqttServiceOptions o;
  o.port = broker.port();
  o.workers = 4;
  o.backend = "slow-identity-mqtt";
  o.registry = &backends;
  auto worker = server::MqttDecodeService::start(o);
  REQUIRE(worker);
  auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "impatient", 100ms));
  REQUIRE(device);
  std::vector<TestFrame> frames;
  for (uint32_t i = 0; i < 8; ++i) frames.push_back(make_frame(300 + i, 3, 6, 12, 11));
  const DeviceTally t = drive_device(**device, frames, 8, 30s);
  INFO(t.first_problem);
  CHECK(t.complete(frames.size()));  // each frame handed out exactly once
  CHECK(t.needed_republish >= 1);
  (*worker)->shutdown();  // answers every copy it received
  const auto& s = (*device)->stats();
  const uint64_t answered = (*worker)->stats().frames_answered;
  CHECK(answered > frames.size());  // the re-published copies were decoded too
  // Every reply the worker sent reaches the device: the first per frame is handed out, the rest are dropped.
  CHECK(eventually([&] { return s.replies + s.duplicate_replies == answered; }));
  CHECK(s.replies == frames.size());
  CHECK(s.duplicate_replies == answered - frames.size());
}

namespace {
// This process's peak resident memory (VmHWM), MiB.
double peak_rss_mib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  unsigned long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) break;
  std::fclose(f);
  return double(kb) / 1024;
}
}  // namespace

TEST_CASE("MQTT frames: admitted before allocating, charged to the memory budget, never ok over a non-finite map") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  server::MqttServiceOptions o = worker_options(broker, "test-worker-budget", 1);
  o.backend = "native";
  o.backend_options = {{"random_seed", "1"}, {"height", "8"}, {"width", "8"}};
  o.memory_budget = 64 << 10;
  auto started = server::MqttDecodeService::start(o);
  INFO(started.error().what());
  REQUIRE(started);
  auto& worker = *started;

  std::mutex mutex;
  std::vector<wire::Reply> replies;
  mqtt::Connection::Handlers handlers;
  handlers.on_message = [&](const mqtt::Message& m) {
    auto r = wire::parse_reply(m.payload, m.size);
    std::lock_guard<std::mutex> lock(mutex);
    if (r) replies.push_back(*r);
  };
  mqtt::ConnectOptions co;
  co.port = broker.port();
  co.client_id = "test-budget-device";
  auto raw = mqtt::Connection::open(co, handlers);
  REQUIRE(raw);
  const std::string reply_topic = mqtt::reply_topic("slimcodec", "budget");
  REQUIRE((*raw)->subscribe(reply_topic, 1));
  // Sends one message (correlation data: `id`) and waits for the reply to it.
  auto ask = [&](const std::vector<uint8_t>& payload, uint32_t id) -> wire::Reply {
    mosquitto_property* props = nullptr;
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_topic.c_str());
    const auto c = mqtt::correlation(id);
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, c.data(), uint16_t(c.size()));
    const mqtt::Properties owned(props);
    REQUIRE((*raw)->publish(mqtt::frame_topic("slimcodec", "budget"), payload.data(), payload.size(), 1, props));
    wire::Reply out;
    REQUIRE(eventually([&] {
      std::lock_guard<std::mutex> lock(mutex);
      for (const auto& r : replies)
        if (r.frame_id == id) return out = r, true;
      return false;
    }));
    return out;
  };

  const double rss_before = peak_rss_mib();
  // 92 bytes declaring 32 x 4096 x 4096 values (2 GiB of floats before the value cap): refused from the header.
  const auto tiny = test::tiny_codec1_frame(32, 4096, 4096, 11);
  REQUIRE(tiny.size() == 92);
  CHECK(ask(tiny, 11).status == Errc::length_mismatch);
  CHECK(peak_rss_mib() - rss_before < 16.0);
  // Within the cap, no tables: refused before decoding, nothing charged.
  CHECK(ask(test::tiny_codec1_frame(6, 40, 40, 12), 12).status == Errc::entropy_table_mismatch);
  // A shape the backend does not take (4096 rows): refused before its floats are charged or allocated.
  CHECK(ask(make_frame(13, 1, 6, 4096, 2).bytes, 13).status == Errc::shape_out_of_range);
  CHECK(worker->stats().memory_peak == 0);
  // 6 x 64 x 64: 6,144 payload bytes + 98,304 bytes of floats, above the 64 KiB budget.
  CHECK(ask(make_frame(14, 1, 6, 64, 64).bytes, 14).status == Errc::overloaded);
  // Bounds of +-3e37 overflow the network: output_not_finite, never ok.
  CHECK(ask(test::huge_bounds_frame(6, 8, 8, 15), 15).status == Errc::output_not_finite);
  const TestFrame fine = make_frame(16, 4, 6, 8, 8);
  CHECK(ask(fine.bytes, 16).status == Errc::ok);
  worker->shutdown();
  CHECK(worker->stats().frames_refused == 2);
  CHECK(worker->stats().frames_overloaded == 1);
  CHECK(worker->stats().memory_peak > 0);
  CHECK(worker->stats().memory_peak <= o.memory_budget);
  CHECK(worker->budget().used() == 0);
}
