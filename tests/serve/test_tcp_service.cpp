// The TCP decode service on loopback: many concurrent clients, misbehaving clients dropped alone, graceful
// shutdown. Bounded in count and time.
#include <slimcodec/codec.hpp>
#include <slimcodec/decode/callback.hpp>
#include <slimcodec/serve/tcp_client.hpp>
#include <slimcodec/serve/tcp_service.hpp>
#include <slimcodec/wire/header_codec.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <thread>

using namespace slimcodec;

namespace {

struct TestFrame {
  std::vector<uint8_t> bytes;
  uint64_t digest;  // what the identity backend must report
};

TestFrame make_frame(uint32_t id, unsigned bits, uint16_t c, uint16_t h, uint16_t w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(size_t(c) * h * w);
  for (auto& v : x) v = normal(rng);
  EncodeParams p{1, uint8_t(bits), {c, h, w}, quant::Bounds{-3.f, 3.f}, id, 1000u + id};
  TestFrame f{std::vector<uint8_t>(max_frame_size(x.size(), bits)), 0};
  auto n = encode_frame(x.data(), p, f.bytes.data(), f.bytes.size());
  REQUIRE(n);
  f.bytes.resize(*n);
  std::vector<float> y(x.size());
  REQUIRE(decode_frame(f.bytes.data(), f.bytes.size(), y.data(), y.size()));
  f.digest = serve::digest_features(y.data(), y.size());
  return f;
}

// A service running on its own io thread, on a free loopback port.
struct RunningService {
  asio::io_context io;
  std::unique_ptr<serve::TcpService> service;
  std::thread thread;

  explicit RunningService(serve::ServiceOptions options) {
    auto created = serve::TcpService::create(io, std::move(options));
    REQUIRE(created);
    service = std::move(*created);
    service->start();
    thread = std::thread([this] { io.run(); });
  }
  void shutdown() {
    service->shutdown();
    if (thread.joinable()) thread.join();
  }
  ~RunningService() { shutdown(); }
};

serve::TcpClient connect_to(const RunningService& s) {
  serve::TcpClient client;
  REQUIRE(client.connect("127.0.0.1", s.service->port()));
  return client;
}

// Sends `count` frames, then reads all replies; checks each id comes back exactly once with the right digest.
void run_good_client(uint16_t port, uint32_t client_id, int count, std::atomic<int>& failures) {
  serve::TcpClient client;
  if (!client.connect("127.0.0.1", port)) return void(++failures);
  std::map<uint32_t, uint64_t> expected;
  for (int i = 0; i < count; ++i) {
    const uint32_t id = client_id * 1000 + uint32_t(i);
    TestFrame f = make_frame(id, 1 + unsigned(i % 8), 6, 12, 11, id);
    expected[id] = f.digest;
    if (!client.send(f.bytes.data(), f.bytes.size())) return void(++failures);
  }
  client.finish_sending();
  std::set<uint32_t> seen;
  for (int i = 0; i < count; ++i) {
    auto reply = client.receive();
    if (!reply || reply->status != Errc::ok) return void(++failures);
    auto it = expected.find(reply->frame_id);
    if (it == expected.end() || seen.count(reply->frame_id) || reply->digest != it->second ||
        reply->timestamp_us != 1000u + reply->frame_id || reply->out_channels != 6 || reply->out_width != 11)
      return void(++failures);
    seen.insert(reply->frame_id);
  }
  if (client.receive()) ++failures;  // nothing more: the service closes after the last reply
}

}  // namespace

TEST_CASE("many concurrent clients: no frame lost, duplicated or answered with another id") {
  serve::ServiceOptions options;
  options.workers = 4;
  options.max_inflight_per_connection = 4;  // exercise back-pressure
  RunningService s(options);
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  constexpr int kClients = 12, kFrames = 40;
  for (int c = 1; c <= kClients; ++c)
    clients.emplace_back(run_good_client, s.service->port(), uint32_t(c), kFrames, std::ref(failures));
  for (auto& t : clients) t.join();
  REQUIRE(failures == 0);
  s.shutdown();
  REQUIRE(s.service->stats().frames_received == kClients * kFrames);
  REQUIRE(s.service->stats().frames_answered == kClients * kFrames);
  REQUIRE(s.service->stats().connections_failed == 0);
}

TEST_CASE("misbehaving clients are dropped alone while good clients carry on") {
  serve::ServiceOptions options;
  options.workers = 2;
  options.idle_timeout = std::chrono::milliseconds(300);
  RunningService s(options);
  std::atomic<int> failures{0};
  std::vector<std::thread> good;
  for (int c = 1; c <= 4; ++c) good.emplace_back(run_good_client, s.service->port(), uint32_t(c), 30, std::ref(failures));

  SECTION("garbage bytes get one bad_magic reply, then the connection closes") {
    auto client = connect_to(s);
    std::vector<uint8_t> junk(1000);
    std::mt19937 rng(7);
    for (auto& b : junk) b = uint8_t(rng());
    junk[0] = 'X';
    REQUIRE(client.send(junk.data(), junk.size()));
    auto reply = client.receive();
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::bad_magic);
    REQUIRE_FALSE(client.receive());
  }
  SECTION("a giant length field is refused from the header alone") {
    wire::FrameHeader h;
    h.bits = 4;
    h.channels = 1024;
    h.height = 256;
    h.width = 256;  // 32 MiB payload: above the 16 MiB default limit
    h.payload_size = uint32_t(wire::expected_payload_size(h));
    uint8_t header[wire::kHeaderSize];
    wire::encode_header(h, header);
    auto client = connect_to(s);
    REQUIRE(client.send(header, sizeof header));
    auto reply = client.receive();
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::length_too_large);
    REQUIRE_FALSE(client.receive());
  }
  SECTION("a corrupted payload fails its CRC") {
    TestFrame f = make_frame(5, 4, 6, 12, 11, 5);
    f.bytes[wire::kHeaderSize + 3] ^= 0x40;
    auto client = connect_to(s);
    REQUIRE(client.send(f.bytes.data(), f.bytes.size()));
    auto reply = client.receive();
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::crc_mismatch);
  }
  SECTION("a client that stalls mid-frame is closed by the idle timeout") {
    TestFrame f = make_frame(6, 4, 6, 12, 11, 6);
    auto client = connect_to(s);
    REQUIRE(client.send(f.bytes.data(), f.bytes.size() / 2));
    const auto start = std::chrono::steady_clock::now();
    REQUIRE_FALSE(client.receive());  // closed without a reply
    REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  }
  SECTION("a client that disconnects mid-frame") {
    TestFrame f = make_frame(7, 4, 6, 12, 11, 7);
    auto client = connect_to(s);
    REQUIRE(client.send(f.bytes.data(), f.bytes.size() - 10));
    client.close();
  }
  for (auto& t : good) t.join();
  REQUIRE(failures == 0);
  s.shutdown();
  REQUIRE(s.service->stats().frames_answered >= 4 * 30);
}

TEST_CASE("shutdown answers every frame already received, then closes") {
  decode::BackendRegistry::global().add("slow-identity", [](const decode::BackendOptions&) {
    return Result<std::unique_ptr<decode::DecoderBackend>>(std::make_unique<decode::CallbackBackend>(
        "slow-identity", [](const float* in, decode::TensorShape shape, std::vector<float>& out,
                            decode::TensorShape& out_shape) {
          std::this_thread::sleep_for(std::chrono::milliseconds(30));
          out.assign(in, in + shape.size());
          out_shape = shape;
          return Result<void>{};
        }));
  });
  serve::ServiceOptions options;
  options.workers = 2;
  options.backend = "slow-identity";
  RunningService s(options);
  auto client = connect_to(s);
  constexpr int kFrames = 10;
  for (int i = 0; i < kFrames; ++i) {
    TestFrame f = make_frame(uint32_t(100 + i), 3, 4, 8, 8, uint32_t(i));
    REQUIRE(client.send(f.bytes.data(), f.bytes.size()));
  }
  while (s.service->stats().frames_received < kFrames) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(s.service->stats().frames_answered < kFrames);  // still decoding (30 ms each, 2 workers)
  s.service->shutdown();
  std::set<uint32_t> ids;
  for (int i = 0; i < kFrames; ++i) {
    auto reply = client.receive();
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::ok);
    ids.insert(reply->frame_id);
  }
  REQUIRE(ids.size() == kFrames);
  REQUIRE_FALSE(client.receive());  // closed after the last reply
  s.shutdown();
  REQUIRE(s.service->stats().frames_answered == kFrames);
  REQUIRE(s.service->stats().frames_unanswered == 0);
  // A new connection is refused once the service has stopped.
  serve::TcpClient late;
  REQUIRE_FALSE(late.connect("127.0.0.1", s.service->port()));
}
