// What the MQTT decode service allocates per message: a steady stream of the paper's 6x96x96 frames at 4 bits
// (27,648-byte payloads) through one worker, counting every C++ allocation of a payload's size or more. The payload
// is copied once out of libmosquitto's message into a buffer the worker keeps, so the count stays near the number
// of frames in flight, not the number of messages (the device client's own copies, made on the test's thread, are
// not counted). Replaces the global allocation functions: its own program.
#include "mqtt_test_support.hpp"
#include "mqtt_worker_options.hpp"

#include <slimcodec/server/mqtt_service.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {

std::atomic<size_t> g_count_at_least{SIZE_MAX};  // allocations of this many bytes or more are counted
std::atomic<uint64_t> g_counted{0};
thread_local bool t_device_thread = false;  // the test's own thread: the device client copies each frame it sends

void* test_allocate(size_t n, size_t align) noexcept {
  if (n >= g_count_at_least.load(std::memory_order_relaxed) && !t_device_thread)
    g_counted.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return ::posix_memalign(&p, align, n) == 0 ? p : nullptr;
}

}  // namespace

// ------------------------------ replaced allocation functions (counting, else malloc and free)
#include "support/replaced_new.hpp"

using namespace slimcodec;
using namespace mqtt_test;

TEST_CASE("MQTT: a steady stream reuses payload buffers instead of allocating one per message") {
  MQTT_TEST_SKIP_WITHOUT_BROKER();
  Broker broker;
  const server::MqttServiceOptions o = worker_options(broker, "test-worker-allocations", 2);
  auto worker = server::MqttDecodeService::start(o);
  INFO(worker.error().what());
  REQUIRE(worker);
  auto device = device::MqttDeviceClient::connect(device_options(broker.port(), "cam-alloc", 30s));
  INFO(device.error().what());
  REQUIRE(device);

  constexpr int kFrames = 300;
  constexpr size_t kWindow = 8;
  std::vector<TestFrame> frames;
  for (int i = 0; i < kFrames; ++i) frames.push_back(make_frame(uint32_t(i), 4, 6, 96, 96));
  const size_t payload = frames.front().bytes.size() - wire::kHeaderSize - 4;
  REQUIRE(payload == 27648);

  t_device_thread = true;  // counted: the worker's threads (libmosquitto's network thread, the decode threads)
  g_counted = 0;
  g_count_at_least = payload;
  const DeviceTally t = drive_device(**device, frames, kWindow, 120s);
  g_count_at_least = SIZE_MAX;
  const uint64_t counted = g_counted;

  INFO(t.first_problem);
  CHECK(t.complete(kFrames));
  (*worker)->shutdown();
  const auto& s = (*worker)->stats();
  WARN(kFrames << " messages of a " << payload << "-byte payload: " << counted
               << " allocations of that size or more in the process, " << s.payload_allocations
               << " payload buffers allocated by the worker");
  CHECK(s.frames_answered == uint64_t(kFrames));
  // Buffers are allocated while the frames in flight outnumber the ones kept, then reused: at most one per frame
  // in flight (the device's window), plus the decode threads' scratch (one each).
  CHECK(s.payload_allocations <= kWindow + 2);
  CHECK(counted <= kWindow + 2 + o.workers + 8);
  CHECK((*worker)->budget().used() == 0);
}
