// Allocation failure comes back as Errc::out_of_memory, never as an exception out of include/. This program replaces the global allocation functions so a test can make allocations fail:
// above a size, or after a number of successful ones. Only this program is affected.
#include <slimcodec/codec.hpp>
#include <slimcodec/server/callback.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/model/member_pool.hpp>
#include <slimcodec/model/network.hpp>
#include <slimcodec/server/frame_job.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/tcp_service.hpp>
#include <slimcodec/server/worker_pool.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>

namespace {
constexpr auto kReplyWait = std::chrono::seconds(60);  // a reply that takes longer means the service is stuck

std::atomic<size_t> g_fail_above{SIZE_MAX};    // allocations larger than this fail
std::atomic<long> g_fail_after{-1};            // >= 0: this many more allocations succeed, then all fail
std::atomic<uint64_t> g_failed{0};

bool should_fail(size_t n) noexcept {
  if (n > g_fail_above.load(std::memory_order_relaxed)) return ++g_failed, true;
  long left = g_fail_after.load(std::memory_order_relaxed);
  while (left >= 0) {
    if (left == 0) return ++g_failed, true;
    if (g_fail_after.compare_exchange_weak(left, left - 1)) return false;
  }
  return false;
}

void* test_allocate(size_t n, size_t align) noexcept {
  if (should_fail(n)) return nullptr;
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return ::posix_memalign(&p, align, n) == 0 ? p : nullptr;
}

// Restores normal allocation when a test section ends, whatever happens in it.
struct FailAllocations {
  FailAllocations(size_t above, long after) {
    g_failed = 0;
    g_fail_above = above;
    g_fail_after = after;
  }
  ~FailAllocations() {
    g_fail_above = SIZE_MAX;
    g_fail_after = -1;
  }
};

}  // namespace

// ------------------------------ replaced allocation functions
#include "support/replaced_new.hpp"

using namespace slimcodec;

namespace {

std::vector<uint8_t> make_frame(uint32_t id, uint16_t c, uint16_t h, uint16_t w, unsigned bits = 1) {
  std::mt19937 rng(id);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(size_t(c) * h * w);
  for (auto& v : x) v = normal(rng);
  EncodeParams p{1, uint8_t(bits), {c, h, w}, quant::Bounds{-3.f, 3.f}, id, 1000u + id};
  std::vector<uint8_t> bytes(max_frame_size(x.size(), bits));
  auto n = encode_frame(x.data(), p, bytes.data(), bytes.size());
  REQUIRE(n);
  bytes.resize(*n);
  return bytes;
}

}  // namespace

TEST_CASE("a frame whose dequantization buffer cannot be allocated gets an out_of_memory reply") {
  server::BackendRegistry registry;
  server::register_builtin_backends(registry);
  auto identity = registry.create("identity");
  REQUIRE(identity);
  const auto bytes = make_frame(5, 8, 256, 256);  // 524,288 values: 2 MiB of floats
  auto frame = wire::parse_frame(bytes.data(), bytes.size());
  REQUIRE(frame);
  std::vector<float> scratch;
  {
    FailAllocations fail(size_t(1) << 20, -1);
    const wire::Reply r = server::decode_frame_to_reply(**identity, frame->header, frame->payload,
                                                        frame->payload_size, scratch);
    REQUIRE(r.status == Errc::out_of_memory);
    REQUIRE(r.frame_id == 5);
    REQUIRE(g_failed > 0);
  }
  SECTION("and when the identity backend's output cannot be allocated") {
    scratch.reserve(8 * 256 * 256);  // the dequantization buffer exists; the backend's copy fails
    FailAllocations fail(size_t(1) << 20, -1);
    const wire::Reply r = server::decode_frame_to_reply(**identity, frame->header, frame->payload,
                                                        frame->payload_size, scratch);
    REQUIRE(r.status == Errc::out_of_memory);
  }
  // With memory back, the same frame decodes.
  const wire::Reply ok = server::decode_frame_to_reply(**identity, frame->header, frame->payload,
                                                       frame->payload_size, scratch);
  REQUIRE(ok.status == Errc::ok);
}

TEST_CASE("the service answers out_of_memory for a frame it cannot allocate, and keeps serving") {
  asio::io_context io;
  server::ServiceOptions options;
  auto service = server::TcpService::create(io, options);
  REQUIRE(service);
  (*service)->start();
  std::thread runner([&] { io.run(); });
  {
    device::TcpTransport client;
    REQUIRE(client.connect("127.0.0.1", (*service)->port()));
    const auto big = make_frame(1, 8, 256, 256), small = make_frame(2, 6, 12, 11);
    {
      FailAllocations fail(size_t(1) << 20, -1);  // the 2 MiB of floats fail; the 64 KiB payload does not
      REQUIRE(client.send_frame(big.data(), big.size()));
      auto r = client.receive_reply(kReplyWait);
      REQUIRE(r);
      REQUIRE(r->status == Errc::out_of_memory);
      REQUIRE(r->frame_id == 1);
    }
    REQUIRE(client.send_frame(small.data(), small.size()));
    auto r = client.receive_reply(kReplyWait);
    REQUIRE(r);
    REQUIRE(r->status == Errc::ok);
    REQUIRE(r->frame_id == 2);
  }
  (*service)->shutdown();
  runner.join();
}

TEST_CASE("FrameParser reports a buffer it cannot allocate as out_of_memory") {
  const auto bytes = make_frame(3, 8, 512, 512);  // 262,144-byte payload
  wire::FrameParser parser(wire::ParserLimits{size_t(1) << 20});
  FailAllocations fail(size_t(100) << 10, -1);
  auto r = parser.feed(bytes.data(), bytes.size());
  REQUIRE(r.code() == Errc::out_of_memory);
}

TEST_CASE("Network::create reports failed allocation as out_of_memory, not invalid_argument") {
  using Net = model::Reconstructor<layers::paper::Reconstructor>;
  FailAllocations fail(size_t(1) << 20, -1);
  auto net = Net::create(96, 96);
  REQUIRE(net.code() == Errc::out_of_memory);
}

TEST_CASE("MemberPool and Encoder::set_threads report a thread that cannot start, without throwing") {
  SECTION("the pool object itself") {
    FailAllocations fail(SIZE_MAX, 0);
    REQUIRE(model::MemberPool::create(3) == nullptr);
  }
  SECTION("the second thread (std::thread allocates its state): the first is joined, nothing escapes") {
    std::unique_ptr<model::MemberPool> pool;
    {
      FailAllocations fail(SIZE_MAX, 3);  // the pool, its vector, the first thread's state
      pool = model::MemberPool::create(3);
    }
    REQUIRE(pool == nullptr);
    REQUIRE(g_failed > 0);
  }
  SECTION("Encoder::set_threads") {
    using Encoder = model::Encoder<layers::paper::Encoder>;
    auto encoder = Encoder::create(32, 32);
    REQUIRE(encoder);
    {
      FailAllocations fail(SIZE_MAX, 2);  // thread scratch, the pool object, then nothing
      auto r = encoder->set_threads(3);
      REQUIRE(r.code() == Errc::out_of_memory);
    }
    REQUIRE(encoder->threads() == 1);
    REQUIRE(encoder->set_threads(2));
    REQUIRE(encoder->threads() == 2);
  }
  auto pool = model::MemberPool::create(2);
  REQUIRE(pool);
  REQUIRE(pool->workers() == 2);
}
