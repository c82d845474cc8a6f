// The TCP decode service on loopback: many concurrent clients, misbehaving clients dropped alone, graceful
// shutdown. Bounded in count and time.
#include <slimcodec/codec.hpp>
#include <slimcodec/server/callback.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/tcp_service.hpp>
#include <slimcodec/wire/header_codec.hpp>

#include <catch2/catch.hpp>

#include "server/test_frames.hpp"

#include <random>
#include <set>
#include <thread>

using namespace slimcodec;

namespace {
constexpr auto kReplyWait = std::chrono::seconds(60);  // a reply that takes longer means the service is stuck

using test::header_bytes;
using test::header_for;
using test::make_frame;
using test::TestFrame;

// A service running on its own io thread, on a free loopback port.
struct RunningService {
  asio::io_context io;
  std::unique_ptr<server::TcpService> service;
  std::thread thread;

  explicit RunningService(server::ServiceOptions options) {
    auto created = server::TcpService::create(io, std::move(options));
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

device::TcpTransport connect_to(const RunningService& s) {
  device::TcpTransport client;
  REQUIRE(client.connect("127.0.0.1", s.service->port()));
  return client;
}

// Sends `count` frames, then reads all replies; checks each id comes back exactly once with the right digest.
void run_good_client(uint16_t port, uint32_t client_id, int count, std::atomic<int>& failures) {
  device::TcpTransport client;
  if (!client.connect("127.0.0.1", port)) return void(++failures);
  std::map<uint32_t, uint64_t> expected;
  for (int i = 0; i < count; ++i) {
    const uint32_t id = client_id * 1000 + uint32_t(i);
    TestFrame f = make_frame(id, 1 + unsigned(i % 8), 6, 12, 11, id);
    expected[id] = f.digest;
    if (!client.send_frame(f.bytes.data(), f.bytes.size())) return void(++failures);
  }
  client.finish_sending();
  std::set<uint32_t> seen;
  for (int i = 0; i < count; ++i) {
    auto reply = client.receive_reply(kReplyWait);
    if (!reply || reply->status != Errc::ok) return void(++failures);
    auto it = expected.find(reply->frame_id);
    if (it == expected.end() || seen.count(reply->frame_id) || reply->digest != it->second ||
        reply->timestamp_us != 1000u + reply->frame_id || reply->out_channels != 6 || reply->out_width != 11)
      return void(++failures);
    seen.insert(reply->frame_id);
  }
  if (client.receive_reply(kReplyWait)) ++failures;  // nothing more: the service closes after the last reply
}

}  // namespace

TEST_CASE("many concurrent clients: no frame lost, duplicated or answered with another id") {
  server::ServiceOptions options;
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
  server::ServiceOptions options;
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
    REQUIRE(client.send_frame(junk.data(), junk.size()));
    auto reply = client.receive_reply(kReplyWait);
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::bad_magic);
    REQUIRE_FALSE(client.receive_reply(kReplyWait));
  }
  SECTION("a giant length field is refused from the header alone") {
    const auto header = header_bytes(header_for(1024, 256, 256, 4));  // 32 MiB payload: above the 16 MiB limit
    auto client = connect_to(s);
    REQUIRE(client.send_frame(header.data(), header.size()));
    auto reply = client.receive_reply(kReplyWait);
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::length_too_large);
    REQUIRE_FALSE(client.receive_reply(kReplyWait));
  }
  SECTION("a corrupted payload fails its CRC") {
    TestFrame f = make_frame(5, 4, 6, 12, 11, 5);
    f.bytes[wire::kHeaderSize + 3] ^= 0x40;
    auto client = connect_to(s);
    REQUIRE(client.send_frame(f.bytes.data(), f.bytes.size()));
    auto reply = client.receive_reply(kReplyWait);
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::crc_mismatch);
  }
  SECTION("a client that stalls mid-frame is closed by the idle timeout") {
    TestFrame f = make_frame(6, 4, 6, 12, 11, 6);
    auto client = connect_to(s);
    REQUIRE(client.send_frame(f.bytes.data(), f.bytes.size() / 2));
    const auto start = std::chrono::steady_clock::now();
    REQUIRE_FALSE(client.receive_reply(kReplyWait));  // closed without a reply
    REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  }
  SECTION("a client that disconnects mid-frame") {
    TestFrame f = make_frame(7, 4, 6, 12, 11, 7);
    auto client = connect_to(s);
    REQUIRE(client.send_frame(f.bytes.data(), f.bytes.size() - 10));
    client.close();
  }
  for (auto& t : good) t.join();
  REQUIRE(failures == 0);
  s.shutdown();
  REQUIRE(s.service->stats().frames_answered >= 4 * 30);
}

TEST_CASE("shutdown answers every frame already received, then closes") {
  server::BackendRegistry backends;
  backends.add("slow-identity", [](const server::BackendOptions&) {
    return Result<std::unique_ptr<server::DecoderBackend>>(std::make_unique<server::CallbackBackend>(
        "slow-identity", [](const float* in, Shape shape, std::vector<float>& out,
                            Shape& out_shape) {
          std::this_thread::sleep_for(std::chrono::milliseconds(30));
          out.assign(in, in + shape.size());
          out_shape = shape;
          return Result<void>{};
        }));
  });
  server::ServiceOptions options;
  options.workers = 2;
  options.backend = "slow-identity";
  options.registry = &backends;
  RunningService s(options);
  auto client = connect_to(s);
  constexpr int kFrames = 10;
  for (int i = 0; i < kFrames; ++i) {
    TestFrame f = make_frame(uint32_t(100 + i), 3, 4, 8, 8, uint32_t(i));
    REQUIRE(client.send_frame(f.bytes.data(), f.bytes.size()));
  }
  while (s.service->stats().frames_received < kFrames) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(s.service->stats().frames_answered < kFrames);  // still decoding (30 ms each, 2 workers)
  s.service->shutdown();
  std::set<uint32_t> ids;
  for (int i = 0; i < kFrames; ++i) {
    auto reply = client.receive_reply(kReplyWait);
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::ok);
    ids.insert(reply->frame_id);
  }
  REQUIRE(ids.size() == kFrames);
  REQUIRE_FALSE(client.receive_reply(kReplyWait));  // closed after the last reply
  s.shutdown();
  REQUIRE(s.service->stats().frames_answered == kFrames);
  REQUIRE(s.service->stats().frames_unanswered == 0);
  // A new connection is refused once the service has stopped.
  device::TcpTransport late;
  REQUIRE_FALSE(late.connect("127.0.0.1", s.service->port()));
}

// ------------------------------ codec 1 (rANS) frames

namespace {

// Tables fitted to N(0, 1) codes at b = 4 with bounds [-3, 3], for `channels` channels, id 9.
std::shared_ptr<const entropy::TableSet> gaussian_tables(unsigned channels) {
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.f, 1.f);
  const quant::QuantParams qp = quant::make_params(4, quant::Bounds{-3.f, 3.f});
  std::vector<uint64_t> counts(16, 1);
  for (int i = 0; i < 20000; ++i) ++counts[quant::ref::quantize_value(normal(rng), qp)];
  std::vector<uint16_t> freqs(size_t(channels) * 16);
  for (unsigned c = 0; c < channels; ++c) entropy::fit_frequencies(counts.data(), 4, freqs.data() + c * 16);
  const uint16_t* by_bits[entropy::kMaxBits + 1] = {};
  by_bits[4] = freqs.data();
  auto tables = entropy::TableSet::create(9, channels, by_bits);
  REQUIRE(tables);
  return std::make_shared<const entropy::TableSet>(std::move(*tables));
}

// A codec-1 frame of N(0, 1) values (b = 4, bounds [-3, 3]) and the digest of its values decoded with `tables`.
TestFrame make_codec1_frame(uint32_t id, uint16_t c, uint16_t h, uint16_t w, const entropy::TableSet& tables) {
  TestFrame f = make_frame(id, 4, c, h, w, id, &tables);
  REQUIRE(f.bytes[wire::offset::kCodec] == uint8_t(wire::Codec::rans));
  std::vector<float> y(size_t(c) * h * w);
  REQUIRE_FALSE(decode_frame(f.bytes.data(), f.bytes.size(), y.data(), y.size()));  // needs the tables
  return f;
}

}  // namespace

TEST_CASE("codec-1 frames: decoded with the service's tables; without them answered entropy_table_mismatch") {
  const auto tables = gaussian_tables(8);
  const TestFrame coded = make_codec1_frame(21, 8, 16, 16, *tables);
  const TestFrame plain = make_frame(22, 4, 8, 16, 16, 22);
  server::ServiceOptions options;
  options.workers = 1;  // replies in order
  SECTION("with tables: the same values a codec-0 decode gives") {
    options.entropy_tables = tables;
    RunningService s(options);
    auto client = connect_to(s);
    REQUIRE(client.send_frame(coded.bytes.data(), coded.bytes.size()));
    auto reply = client.receive_reply(kReplyWait);
    REQUIRE(reply);
    REQUIRE(reply->status == Errc::ok);
    REQUIRE(reply->frame_id == 21);
    REQUIRE(reply->digest == coded.digest);
    REQUIRE(reply->out_channels == 8);
    REQUIRE(reply->out_height == 16);
    SECTION("tables for another channel count: entropy_table_mismatch, and the connection serves on") {
      const auto other = gaussian_tables(4);
      const TestFrame foreign = make_codec1_frame(23, 4, 16, 16, *other);
      REQUIRE(client.send_frame(foreign.bytes.data(), foreign.bytes.size()));
      REQUIRE(client.send_frame(plain.bytes.data(), plain.bytes.size()));
      auto r1 = client.receive_reply(kReplyWait);
      auto r2 = client.receive_reply(kReplyWait);
      REQUIRE(r1);
      REQUIRE(r2);
      REQUIRE(r1->frame_id == 23);
      REQUIRE(r1->status == Errc::entropy_table_mismatch);
      REQUIRE(r2->frame_id == 22);
      REQUIRE(r2->status == Errc::ok);
      REQUIRE(r2->digest == plain.digest);
    }
    client.finish_sending();
    s.shutdown();
  }
  SECTION("without tables: a typed reply, not a dropped connection") {
    RunningService s(options);
    auto client = connect_to(s);
    REQUIRE(client.send_frame(coded.bytes.data(), coded.bytes.size()));
    REQUIRE(client.send_frame(plain.bytes.data(), plain.bytes.size()));
    auto r1 = client.receive_reply(kReplyWait);
    auto r2 = client.receive_reply(kReplyWait);
    REQUIRE(r1);
    REQUIRE(r2);
    REQUIRE(r1->frame_id == 21);
    REQUIRE(r1->status == Errc::entropy_table_mismatch);
    REQUIRE(r1->timestamp_us == 1021);
    REQUIRE(r2->frame_id == 22);
    REQUIRE(r2->status == Errc::ok);
    REQUIRE(r2->digest == plain.digest);
    client.finish_sending();
    s.shutdown();
    REQUIRE(s.service->stats().frames_decode_failed == 1);
    REQUIRE(s.service->stats().connections_failed == 0);
  }
}

// ------------------------------ hostile clients

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace {

// A raw, non-blocking loopback client that controls every byte and bounds every wait.
struct RawClient {
  int fd = -1;

  // socket() now, connect() later: lets a test take the descriptor before it exhausts the table.
  RawClient() { fd = ::socket(AF_INET, SOCK_STREAM, 0); }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void set_receive_buffer(int bytes) { ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }
  bool connect(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0;
  }
  // Sends what the socket takes within `wait`; returns the bytes sent.
  size_t send_some(const uint8_t* p, size_t n, std::chrono::milliseconds wait) {
    size_t sent = 0;
    while (sent < n) {
      const ssize_t k = ::send(fd, p + sent, n - sent, MSG_NOSIGNAL);
      if (k > 0) {
        sent += size_t(k);
        continue;
      }
      if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
      pollfd pfd{fd, POLLOUT, 0};
      if (::poll(&pfd, 1, int(wait.count())) <= 0) break;
    }
    return sent;
  }
  bool send_all(const std::vector<uint8_t>& b) { return send_some(b.data(), b.size(), std::chrono::seconds(5)) == b.size(); }

  enum class Got { reply, closed, nothing };
  // One whole reply, or the connection's end, within `wait`.
  Got receive(wire::Reply& reply, std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    wire::ReplyBytes bytes;
    size_t have = 0;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (have < bytes.size()) {
      const ssize_t k = ::recv(fd, bytes.data() + have, bytes.size() - have, 0);
      if (k > 0) {
        have += size_t(k);
        continue;
      }
      if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return Got::closed;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Got::nothing;
      pollfd pfd{fd, POLLIN, 0};
      ::poll(&pfd, 1, int(left.count()));
    }
    auto parsed = wire::parse_reply(bytes.data(), bytes.size());
    if (!parsed) return Got::closed;
    reply = *parsed;
    return Got::reply;
  }
};

// Waits (bounded) until pred() holds; returns whether it did. Checks behaviour, not speed.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A good client's check: one frame out, its ok reply back.
void expect_answered(RawClient& c, uint32_t id) {
  const TestFrame f = make_frame(id, 4, 6, 12, 11, id);
  REQUIRE(c.send_all(f.bytes));
  wire::Reply r;
  REQUIRE(c.receive(r) == RawClient::Got::reply);
  REQUIRE(r.status == Errc::ok);
  REQUIRE(r.frame_id == id);
  REQUIRE(r.digest == f.digest);
}


}  // namespace

TEST_CASE("an accept error (EMFILE) does not stop the service accepting") {
  server::ServiceOptions options;
  options.accept_backoff = std::chrono::milliseconds(20);
  RunningService s(options);
  const uint16_t port = s.service->port();
  RawClient waiting;  // its descriptor exists before the table is full
  REQUIRE(waiting.fd >= 0);

  // Fill every descriptor below a lowered soft limit, so the service's accept() fails with EMFILE.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  int top = 0;
  for (int probe = 0; probe < 4096; ++probe)
    if (::fcntl(probe, F_GETFD) != -1) top = probe;
  rlimit low = old;
  low.rlim_cur = rlim_t(top + 1);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers.push_back(fd);
  // No assertions until the descriptors are back: a sanitizer's own checks need descriptors (UBSan's vptr check
  // probes memory through a pipe) and report false errors without them.
  const bool connected = waiting.connect(port);  // the kernel completes the handshake; accept() has no descriptor
  const bool accept_failed = connected && eventually([&] { return s.service->stats().accept_errors > 0; });
  for (int fd : fillers) ::close(fd);
  const bool restored = ::setrlimit(RLIMIT_NOFILE, &old) == 0;
  REQUIRE(restored);
  REQUIRE(connected);
  REQUIRE(accept_failed);

  // Descriptors are back: the waiting client and a new one are both served.
  expect_answered(waiting, 41);
  RawClient fresh;
  REQUIRE(fresh.connect(port));
  expect_answered(fresh, 42);
}

TEST_CASE("a client that does not read its replies: bounded outbox, then the write timeout closes it") {
  server::ServiceOptions options;
  options.max_inflight_per_connection = 8;
  options.send_buffer_bytes = 4096;
  options.write_timeout = std::chrono::milliseconds(400);
  RunningService s(options);
  RawClient reader_not;
  reader_not.set_receive_buffer(4096);
  REQUIRE(reader_not.connect(s.service->port()));
  // 20,000 one-value frames: 880 KB of replies, far more than both socket buffers hold.
  std::vector<uint8_t> stream;
  for (uint32_t i = 0; i < 20000; ++i) {
    const TestFrame f = make_frame(i + 1, 1, 1, 1, 1, i);
    stream.insert(stream.end(), f.bytes.begin(), f.bytes.end());
  }
  reader_not.send_some(stream.data(), stream.size(), std::chrono::milliseconds(500));
  REQUIRE(eventually([&] { return s.service->stats().connections_timed_out == 1; }));
  INFO("replies queued at most " << s.service->stats().outbox_peak);
  REQUIRE(s.service->stats().outbox_peak <= options.max_inflight_per_connection);
  REQUIRE(s.service->stats().frames_received < 20000);  // reading paused instead of queueing replies
  REQUIRE(eventually([&] {  // frames still decoding when it closed are counted as they come back
    const auto& st = s.service->stats();
    return st.frames_received == st.frames_answered + st.frames_unanswered;
  }));
  REQUIRE(s.service->connection_count() == 0);
  RawClient good;
  REQUIRE(good.connect(s.service->port()));
  expect_answered(good, 7);
}

TEST_CASE("a frame trickled byte by byte is closed by the frame deadline, and costs no announced memory") {
  server::ServiceOptions options;
  options.idle_timeout = std::chrono::milliseconds(5000);
  options.frame_timeout = std::chrono::milliseconds(300);
  options.limits.max_payload_size = size_t(16) << 20;
  RunningService s(options);
  RawClient slow;
  REQUIRE(slow.connect(s.service->port()));
  // A header announcing a 16 MiB payload (8 x 4096 x 4096 at 1 bit), then one byte every 20 ms.
  REQUIRE(slow.send_all(header_bytes(header_for(8, 4096, 4096, 1))));
  std::vector<uint8_t> one{0x55};
  REQUIRE(slow.send_all(one));
  REQUIRE(eventually([&] { return s.service->memory_used() > 0; }));
  INFO("charged " << s.service->memory_used() << " bytes for a 16 MiB announcement");
  // The connection's read buffer, and a parser buffer grown with what arrived, not with what was announced.
  REQUIRE(s.service->memory_used() <= server::detail::kReadBufferBytes + (size_t(64) << 10));
  wire::Reply r;
  RawClient::Got got = RawClient::Got::nothing;
  for (int i = 0; i < 500 && got == RawClient::Got::nothing; ++i) {  // at most 10 s of trickling
    slow.send_some(one.data(), 1, std::chrono::milliseconds(20));
    got = slow.receive(r, std::chrono::milliseconds(20));
  }
  REQUIRE(got == RawClient::Got::closed);
  REQUIRE(s.service->stats().connections_timed_out == 1);
  REQUIRE(s.service->stats().connections_cut == 1);
  REQUIRE(eventually([&] { return s.service->memory_used() == 0; }));
}

TEST_CASE("FrameParser grows its buffer as payload bytes arrive, not from the announced length") {
  const TestFrame f = make_frame(9, 8, 8, 128, 128, 9);  // 131,072-byte payload
  wire::FrameParser p(wire::ParserLimits{size_t(1) << 20});
  REQUIRE(p.feed(f.bytes.data(), wire::kHeaderSize + 100));
  REQUIRE(p.buffer_capacity() <= size_t(64) << 10);
  size_t pos = wire::kHeaderSize + 100;
  while (pos < f.bytes.size()) {
    auto n = p.feed(f.bytes.data() + pos, std::min<size_t>(7001, f.bytes.size() - pos));
    REQUIRE(n);
    pos += *n;
  }
  REQUIRE(p.has_frame());
  REQUIRE(p.frame().payload_size == 131072);
  REQUIRE(std::equal(p.frame().payload, p.frame().payload + 131072, f.bytes.begin() + wire::kHeaderSize));
  REQUIRE(p.buffer_capacity() == 131072 + wire::kTrailerSize);
}

TEST_CASE("FrameParser hands a completed frame's buffer over and reads the next frame into the spare it is given") {
  const TestFrame f1 = make_frame(1, 4, 6, 16, 16, 1), f2 = make_frame(2, 4, 6, 16, 16, 2);
  wire::FrameParser p;
  REQUIRE(p.take_frame_buffer().data == nullptr);  // no frame: nothing to hand over
  REQUIRE(p.feed(f1.bytes.data(), f1.bytes.size()));
  REQUIRE(p.has_frame());
  const uint8_t* where = p.frame().payload;
  wire::FrameBuffer a = p.take_frame_buffer();
  REQUIRE(a.data.get() == where);  // the bytes the parser received, not a copy
  REQUIRE(a.capacity == 768 + wire::kTrailerSize);
  REQUIRE(std::equal(a.data.get(), a.data.get() + 768, f1.bytes.begin() + wire::kHeaderSize));
  REQUIRE_FALSE(p.has_frame());
  REQUIRE(p.buffer_capacity() == 0);
  REQUIRE(p.feed(f2.bytes.data(), f2.bytes.size()));  // reads into a new buffer: `a` is still the caller's
  REQUIRE(p.has_frame());
  const uint8_t* spare = a.data.get();
  wire::FrameBuffer b = p.take_frame_buffer(std::move(a));
  REQUIRE(std::equal(b.data.get(), b.data.get() + 768, f2.bytes.begin() + wire::kHeaderSize));
  REQUIRE(p.buffer_capacity() == 768 + wire::kTrailerSize);
  REQUIRE(p.feed(f1.bytes.data(), f1.bytes.size()));  // the spare is reused
  REQUIRE(p.frame().payload == spare);
}

TEST_CASE("frames on one connection reuse a few buffers, charged to the budget while kept") {
  server::ServiceOptions options;
  options.workers = 1;
  RunningService s(options);
  RawClient c;
  REQUIRE(c.connect(s.service->port()));
  for (uint32_t i = 1; i <= 50; ++i) expect_answered(c, i);
  // One frame at a time: the parser's buffer and one spare (payload and trailer each) at most.
  const size_t buffer = make_frame(1, 4, 6, 12, 11, 1).bytes.size() - wire::kHeaderSize;
  INFO("memory used " << s.service->memory_used() << ", one buffer " << buffer);
  REQUIRE(eventually([&] { return s.service->memory_used() <= server::detail::kReadBufferBytes + 2 * buffer; }));
  REQUIRE(s.service->memory_used() > server::detail::kReadBufferBytes);
  c.close();
  REQUIRE(eventually([&] { return s.service->connection_count() == 0; }));
  REQUIRE(eventually([&] { return s.service->memory_used() == 0; }));  // spares released with the connection
}

TEST_CASE("the memory budget answers overloaded instead of allocating past it") {
  server::ServiceOptions options;
  options.memory_budget = 256 << 10;
  RunningService s(options);
  RawClient c;
  REQUIRE(c.connect(s.service->port()));
  // 6x96x96 at 1 bit: 6,912 payload bytes + 221,184 bytes of floats fit; 6x128x128 (12,288 + 393,216) does not.
  const TestFrame fits = make_frame(1, 1, 6, 96, 96, 1), too_big = make_frame(2, 1, 6, 128, 128, 2);
  wire::Reply r;
  REQUIRE(c.send_all(too_big.bytes));
  REQUIRE(c.receive(r) == RawClient::Got::reply);
  REQUIRE(r.status == Errc::overloaded);
  REQUIRE(r.frame_id == 2);
  REQUIRE(c.send_all(fits.bytes));  // the connection carries on
  REQUIRE(c.receive(r) == RawClient::Got::reply);
  REQUIRE(r.status == Errc::ok);
  REQUIRE(r.digest == fits.digest);
  REQUIRE(s.service->stats().frames_overloaded == 1);
  REQUIRE(s.service->stats().memory_peak <= options.memory_budget);

  SECTION("a frame beyond the whole budget is read through, not kept, and answered overloaded") {
    // 6 x 512 x 512 at 1 bit: a 196,608-byte payload (it alone would fit) and 6 MiB of floats (they never could).
    const TestFrame hopeless = make_frame(3, 1, 6, 512, 512, 3);
    const uint64_t peak_before = s.service->stats().memory_peak;
    REQUIRE(c.send_all(hopeless.bytes));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::overloaded);
    REQUIRE(r.frame_id == 3);
    // No buffer for its payload: at most the parser's first 64 KiB beside what was charged before.
    REQUIRE(s.service->stats().memory_peak <= std::max<uint64_t>(peak_before, server::detail::kReadBufferBytes + (64 << 10)));
    expect_answered(c, 4);  // the stream carries on

    // A discarded frame's CRC is still checked: a wrong one ends the stream as for any frame.
    TestFrame bad = make_frame(5, 1, 6, 512, 512, 5);
    bad.bytes.back() ^= 0x40;
    RawClient b;
    REQUIRE(b.connect(s.service->port()));
    REQUIRE(b.send_all(bad.bytes));
    REQUIRE(b.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::crc_mismatch);
    REQUIRE(b.receive(r) == RawClient::Got::closed);
  }
}

TEST_CASE("partial frames whose buffers outgrow the budget end their streams with overloaded") {
  server::ServiceOptions options;
  options.memory_budget = size_t(2) << 20;
  RunningService s(options);
  // 8 x 128 x 128 at 8 bits: 128 KiB of payload and 512 KiB of floats, within the budget on its own. Sixteen
  // clients each send 120,000 bytes of it and wait: their buffers (about 144 KiB each with the read buffer) pass
  // the 2 MiB budget after about fourteen, and the ones past it are answered overloaded and closed.
  const TestFrame f = make_frame(9, 8, 8, 128, 128, 9);
  std::vector<RawClient> clients(16);
  for (auto& c : clients) {
    REQUIRE(c.connect(s.service->port()));
    REQUIRE(c.send_some(f.bytes.data(), 120000, std::chrono::seconds(2)) == 120000);
  }
  REQUIRE(eventually([&] { return s.service->stats().connections_failed >= 1; }));
  int overloaded = 0;
  for (auto& c : clients) {
    wire::Reply r;
    if (c.receive(r, std::chrono::milliseconds(200)) == RawClient::Got::reply) {
      REQUIRE(r.status == Errc::overloaded);
      REQUIRE(c.receive(r) == RawClient::Got::closed);
      ++overloaded;
    }
  }
  REQUIRE(overloaded >= 1);
  REQUIRE(overloaded == int(s.service->stats().connections_failed));
  REQUIRE(s.service->stats().memory_peak <= options.memory_budget + f.bytes.size());
  for (auto& c : clients) c.close();
  REQUIRE(eventually([&] { return s.service->memory_used() == 0; }));  // every buffer released
}

TEST_CASE("each connection's read buffer is charged to the budget: connections past it are closed at once") {
  server::ServiceOptions options;
  options.memory_budget = 3 * server::detail::kReadBufferBytes;
  RunningService s(options);
  std::vector<RawClient> clients(4);
  for (auto& c : clients) REQUIRE(c.connect(s.service->port()));
  REQUIRE(eventually([&] { return s.service->stats().connections_rejected == 1; }));
  REQUIRE(s.service->stats().connections_accepted == 3);
  REQUIRE(s.service->memory_used() == 3 * server::detail::kReadBufferBytes);
  wire::Reply r;
  REQUIRE(clients[3].receive(r) == RawClient::Got::closed);
  clients[0].close();  // its buffer goes back: a new client fits
  REQUIRE(eventually([&] { return s.service->memory_used() == 2 * server::detail::kReadBufferBytes; }));
  RawClient late;
  REQUIRE(late.connect(s.service->port()));
  REQUIRE(eventually([&] { return s.service->stats().connections_accepted == 4; }));
}

TEST_CASE("WorkerPool runs tasks by rank, then arrival, and keeps a thread for light tasks") {
  using server::DecoderBackend;
  using server::TaskOrder;
  server::BackendRegistry backends;
  server::register_builtin_backends(backends);
  std::atomic<bool> release{false}, started{false};
  auto gate = [&](DecoderBackend&, std::vector<float>&) {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  SECTION("one thread: each client's next task before anyone's later one") {
    auto pool = server::WorkerPool::create(1, "identity", {}, backends);
    REQUIRE(pool);
    REQUIRE((*pool)->submit(gate));
    REQUIRE(eventually([&] { return started.load(); }));
    std::mutex m;
    std::vector<int> order;
    const std::pair<int, size_t> tasks[] = {{1, 2}, {2, 0}, {3, 1}, {4, 0}, {5, 2}, {6, 1}};  // (id, rank)
    for (auto [id, rank] : tasks)
      REQUIRE((*pool)->submit(
          [&, id = id](DecoderBackend&, std::vector<float>&) {
            std::lock_guard<std::mutex> lock(m);
            order.push_back(id);
          },
          TaskOrder{rank, false}));
    release = true;
    REQUIRE(eventually([&] {
      std::lock_guard<std::mutex> lock(m);
      return order.size() == 6;
    }));
    REQUIRE(order == std::vector<int>{2, 4, 3, 6, 1, 5});
  }
  SECTION("two threads: a second heavy task waits, a light one runs beside the first") {
    auto pool = server::WorkerPool::create(2, "identity", {}, backends);
    REQUIRE(pool);
    std::atomic<bool> second_heavy{false}, light{false};
    REQUIRE((*pool)->submit(gate, TaskOrder{0, true}));
    REQUIRE(eventually([&] { return started.load(); }));
    REQUIRE((*pool)->submit([&](DecoderBackend&, std::vector<float>&) { second_heavy = true; }, TaskOrder{0, true}));
    REQUIRE((*pool)->submit([&](DecoderBackend&, std::vector<float>&) { light = true; }, TaskOrder{5, false}));
    REQUIRE(eventually([&] { return light.load(); }));  // queued after the heavy one, run first: a thread is free
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE_FALSE(second_heavy);
    release = true;
    REQUIRE(eventually([&] { return second_heavy.load(); }));
  }
}

TEST_CASE("WorkerPool::stop finishes running work and drops what is queued") {
  server::BackendRegistry backends;
  server::register_builtin_backends(backends);
  auto pool = server::WorkerPool::create(1, "identity", {}, backends);
  REQUIRE(pool);
  std::atomic<bool> release{false}, started{false};
  std::atomic<int> ran{0};
  REQUIRE((*pool)->submit([&](server::DecoderBackend&, std::vector<float>&) {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }));
  for (int i = 0; i < 50; ++i) REQUIRE((*pool)->submit([&](server::DecoderBackend&, std::vector<float>&) { ++ran; }));
  REQUIRE(eventually([&] { return started.load(); }));
  size_t dropped = 0;
  std::thread stopper([&] { dropped = (*pool)->stop(); });
  REQUIRE(eventually([&] { return (*pool)->stopping(); }));
  release = true;
  stopper.join();
  REQUIRE(ran == 0);
  REQUIRE(dropped == 50);
  REQUIRE_FALSE((*pool)->submit([](server::DecoderBackend&, std::vector<float>&) {}));
  REQUIRE((*pool)->stop() == 0);
}

// ------------------------------ validate before allocating, finite answers, slow clients

TEST_CASE("frames are admitted before anything grows with their shape: cap, tables, the backend's shapes") {
  server::ServiceOptions options;
  options.backend = "native";
  options.backend_options = {{"random_seed", "1"}, {"height", "8"}, {"width", "8"}};
  options.workers = 1;
  RunningService s(options);
  wire::Reply r;
  const size_t floor = server::detail::kReadBufferBytes;
  SECTION("a 92-byte codec-1 frame declaring 6 x 4096 x 4096 values: length_mismatch from its header") {
    const auto frame = test::tiny_codec1_frame(6, 4096, 4096, 5);
    REQUIRE(frame.size() == 92);
    RawClient c;
    REQUIRE(c.connect(s.service->port()));
    REQUIRE(c.send_all(frame));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::length_mismatch);  // a stream error: the connection ends
    REQUIRE(c.receive(r) == RawClient::Got::closed);
    REQUIRE(s.service->stats().memory_peak <= floor + 1024);
  }
  SECTION("codec 1 within the cap but no tables: entropy_table_mismatch, nothing charged for its 9,600 values") {
    RawClient c;
    REQUIRE(c.connect(s.service->port()));
    REQUIRE(c.send_all(test::tiny_codec1_frame(6, 40, 40, 6)));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::entropy_table_mismatch);
    REQUIRE(r.frame_id == 6);
    REQUIRE(s.service->stats().memory_peak <= floor + 1024);
    REQUIRE(s.service->stats().frames_refused == 1);
  }
  SECTION("shapes the backend does not take: refused before their floats are charged or allocated") {
    RawClient c;
    REQUIRE(c.connect(s.service->port()));
    // Under the pixel limit but 4096 rows: above the native backend's max_height (192 by default).
    const TestFrame tall = make_frame(7, 1, 6, 4096, 2, 7);
    REQUIRE(c.send_all(tall.bytes));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::shape_out_of_range);
    // A valid 12.6 MB codec-0 frame of 6 x 4096 x 4096 values (400 MB of floats): refused from its header, its
    // payload read through (CRC checked) but never kept.
    wire::FrameHeader hd = test::header_for(6, 4096, 4096, 1, 8);
    const auto big = test::crafted_frame(hd, std::vector<uint8_t>(hd.payload_size, 0x5A));
    REQUIRE(c.send_all(big));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::shape_out_of_range);
    REQUIRE(r.frame_id == 8);
    INFO("memory peak " << s.service->stats().memory_peak);
    REQUIRE(s.service->stats().memory_peak <= floor + (size_t(128) << 10));
    REQUIRE(s.service->stats().frames_refused == 2);
    const TestFrame fine = make_frame(9, 4, 6, 8, 8, 9);  // and the connection carries on
    REQUIRE(c.send_all(fine.bytes));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::ok);
  }
  SECTION("an output with NaN or infinity is answered output_not_finite, never ok") {
    RawClient c;
    REQUIRE(c.connect(s.service->port()));
    REQUIRE(c.send_all(test::huge_bounds_frame(6, 8, 8, 10)));
    REQUIRE(c.receive(r) == RawClient::Got::reply);
    REQUIRE(r.status == Errc::output_not_finite);
    REQUIRE(r.frame_id == 10);
    REQUIRE(r.detection_count == 0);
  }
  REQUIRE(eventually([&] { return s.service->memory_used() <= floor; }));
}

TEST_CASE("a frame below the minimum data rate is cut after the grace, long before the frame timeout") {
  server::ServiceOptions options;
  options.frame_timeout = std::chrono::milliseconds(60000);
  options.frame_grace = std::chrono::milliseconds(300);
  options.min_frame_rate = 4096;
  RunningService s(options);
  RawClient slow, good;
  REQUIRE(slow.connect(s.service->port()));
  REQUIRE(good.connect(s.service->port()));
  // Its header at once, then a byte every 20 ms: 50 bytes a second.
  REQUIRE(slow.send_all(header_bytes(header_for(6, 96, 96, 4))));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint8_t> one{0x55};
  wire::Reply r;
  RawClient::Got got = RawClient::Got::nothing;
  for (int i = 0; i < 250 && got == RawClient::Got::nothing; ++i) {  // at most 5 s
    slow.send_some(one.data(), 1, std::chrono::milliseconds(20));
    got = slow.receive(r, std::chrono::milliseconds(20));
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(got == RawClient::Got::closed);
  REQUIRE(took < 2.0);
  REQUIRE(s.service->stats().connections_too_slow == 1);
  // A frame at full speed is not affected.
  const TestFrame f = make_frame(1, 4, 6, 96, 96, 1);
  REQUIRE(good.send_all(f.bytes));
  REQUIRE(good.receive(r) == RawClient::Got::reply);
  REQUIRE(r.status == Errc::ok);
}

TEST_CASE("a full connection table: a new client takes the place of the slowest connection owed nothing") {
  server::ServiceOptions options;
  options.max_connections = 8;
  options.min_frame_rate = 0;  // the tricklers stay until evicted
  RunningService s(options);
  std::vector<RawClient> tricklers(8);
  for (auto& t : tricklers) {
    REQUIRE(t.connect(s.service->port()));
    REQUIRE(t.send_all(header_bytes(header_for(6, 96, 96, 4))));
  }
  REQUIRE(eventually([&] { return s.service->stats().connections_accepted == 8; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // older than TcpService::kEvictMinAge
  const auto t0 = std::chrono::steady_clock::now();
  RawClient good;
  REQUIRE(good.connect(s.service->port()));
  const TestFrame f = make_frame(2, 4, 6, 16, 16, 2);
  REQUIRE(good.send_all(f.bytes));
  wire::Reply r;
  REQUIRE(good.receive(r) == RawClient::Got::reply);
  REQUIRE(r.status == Errc::ok);
  REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  REQUIRE(s.service->stats().connections_evicted == 1);
  REQUIRE(s.service->stats().connections_rejected == 0);
  int closed = 0;
  for (auto& t : tricklers) closed += t.receive(r, std::chrono::milliseconds(50)) == RawClient::Got::closed;
  REQUIRE(closed == 1);
}
