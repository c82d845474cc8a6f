// Decode service on loopback: throughput (frames/s) and p50/p99 latency with 1, 2 and 4 workers, native
// backend, paper-sized frames (6x96x96 at 4 bits). Baseline in the same run: the same backend decoding the same
// frame in-process, with no transport; the service's cost is reported as a ratio to it.
// BM_ServiceIdentityOverhead: the service's own per-frame cost (identity backend, small frames), with the heap
// allocations per frame (docs/service.md, "Per-frame overhead").
// With LibTorch and the exported detection models: the detection server side both ways (native reconstructor +
// LibTorch tail, and the all-TorchScript server.pt) on the deployed 6x64x64 bottleneck, one thread each, in-process
// and through the service with one worker: frames/s per core and p50/p99.
#include <slimcodec/codec.hpp>
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/tcp_service.hpp>
#ifdef SLIMCODEC_DETECTION_DIR
#include <slimcodec/server/detection.hpp>
#endif


#include <benchmark/benchmark.h>

#include "ratio_reporter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <thread>

using namespace slimcodec;
using Clock = std::chrono::steady_clock;
#define SLIMCODEC_BENCH_SERVICE_NS slimcodec::server

// Counts heap allocations for BM_ServiceIdentityOverhead (the replaced operators forward to malloc/free; GCC's
// -Wmismatched-new-delete does not see that new and delete are replaced together).
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
std::atomic<uint64_t> g_heap_allocations{0};
void* operator new(size_t n) {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return ::operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {
constexpr auto kReplyWait = std::chrono::seconds(60);  // a reply that takes longer means the service is stuck

constexpr uint16_t kC = 6, kH = 96, kW = 96;

std::vector<uint8_t> paper_frame(uint32_t id) {
  std::vector<float> x(size_t(kC) * kH * kW);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.01f * float(i) + float(id));
  EncodeParams p{1, 4, {kC, kH, kW}, quant::Bounds{-1.f, 1.f}, id, 0};
  std::vector<uint8_t> frame(max_frame_size(x.size(), 4));
  frame.resize(*encode_frame(x.data(), p, frame.data(), frame.size()));
  return frame;
}

const server::BackendOptions kNative{{"random_seed", "1"}};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

// Baseline: dequantize + native reconstructor in-process.
void BM_DecodeInProcess(benchmark::State& state) {
  server::BackendRegistry backends;
  server::register_builtin_backends(backends);
  auto backend = backends.create("native", kNative);
  const std::vector<uint8_t> frame = paper_frame(1);
  std::vector<float> x(size_t(kC) * kH * kW);
  for (auto _ : state) {
    auto header = decode_frame(frame.data(), frame.size(), x.data(), x.size());
    auto out = (*backend)->decode(x.data(), {kC, kH, kW});
    benchmark::DoNotOptimize(out);
  }
  state.counters["frames_per_s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeInProcess)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// The service with state.range(0) workers; 4 clients, each keeping 2 frames in flight.
void BM_ServiceLoopback(benchmark::State& state) {
  server::ServiceOptions options;
  options.workers = size_t(state.range(0));
  options.backend = "native";
  options.backend_options = kNative;
  asio::io_context io;
  auto service = server::TcpService::create(io, options);
  if (!service) return state.SkipWithError(service.error().what());
  (*service)->start();
  std::thread io_thread([&] { io.run(); });
  constexpr int kClients = 4, kInFlight = 2, kFramesPerClient = 6;
  std::vector<double> latencies_ms;
  double total_frames = 0, total_s = 0;
  for (auto _ : state) {
    std::vector<std::vector<double>> per_client(kClients);
    const auto start = Clock::now();
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c)
      clients.emplace_back([&, c] {
        device::TcpTransport client;
        if (!client.connect("127.0.0.1", (*service)->port())) return;
        std::map<uint32_t, Clock::time_point> sent;
        int next = 0, done = 0;
        while (done < kFramesPerClient) {
          while (next < kFramesPerClient && next - done < kInFlight) {
            const auto frame = paper_frame(uint32_t(c * 100 + next));
            sent[uint32_t(c * 100 + next)] = Clock::now();
            if (!client.send_frame(frame.data(), frame.size())) return;
            ++next;
          }
          auto reply = client.receive_reply(kReplyWait);
          if (!reply) return;
          per_client[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent[reply->frame_id]).count());
          ++done;
        }
      });
    for (auto& t : clients) t.join();
    total_s += std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& v : per_client) {
      total_frames += double(v.size());
      latencies_ms.insert(latencies_ms.end(), v.begin(), v.end());
    }
  }
  (*service)->shutdown();
  io_thread.join();
  if (latencies_ms.empty()) return state.SkipWithError("no replies");
  state.counters["frames_per_s"] = total_frames / total_s;
  state.counters["p50_ms"] = percentile(latencies_ms, 0.5);
  state.counters["p99_ms"] = percentile(latencies_ms, 0.99);
}
BENCHMARK(BM_ServiceLoopback)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

// ---- per-frame service overhead: identity backend, small frames

// A blocking loopback client with no library code in it, so that this benchmark builds against older versions of
// the service unchanged (docs/service.md compares them).
struct RawClient {
  int fd = -1;
  explicit RawClient(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~RawClient() {
    if (fd >= 0) ::close(fd);
  }
  bool write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      p += k;
      n -= size_t(k);
    }
    return true;
  }
  bool read_all(uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::recv(fd, p, n, 0);
      if (k <= 0) return false;
      p += k;
      n -= size_t(k);
    }
    return true;
  }
};

// The service's own cost per frame: identity backend (a copy of 1,536 floats), one worker, 6 x 16 x 16 frames at
// 4 bits (816 bytes), one client keeping state.range(0) frames in flight, 4,000 frames per iteration. Reports wall
// and CPU microseconds per frame (CPU of every thread of this process, the client's included) and heap
// allocations per frame (whole process).
void BM_ServiceIdentityOverhead(benchmark::State& state) {
  SLIMCODEC_BENCH_SERVICE_NS::ServiceOptions options;
  options.workers = 1;
  options.backend = "identity";
  asio::io_context io;
  auto service = SLIMCODEC_BENCH_SERVICE_NS::TcpService::create(io, options);
  if (!service) return state.SkipWithError(service.error().what());
  (*service)->start();
  std::thread io_thread([&] { io.run(); });
  std::vector<std::vector<uint8_t>> frames;
  for (uint32_t id = 0; id < 64; ++id) {
    std::vector<float> x(6 * 16 * 16);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.05f * float(i) + float(id));
    EncodeParams p{1, 4, {6, 16, 16}, quant::Bounds{-1.f, 1.f}, id, 0};
    std::vector<uint8_t> f(max_frame_size(x.size(), 4));
    f.resize(*encode_frame(x.data(), p, f.data(), f.size()));
    frames.push_back(std::move(f));
  }
  const int inflight = int(state.range(0));
  constexpr int kFrames = 4000;
  double wall_s = 0, cpu_s = 0;
  uint64_t allocations = 0, done_total = 0;
  bool ok = true;
  {
    RawClient client((*service)->port());
    uint8_t reply[wire::kReplySize];
    auto run = [&](int count) {
      int sent = 0, done = 0;
      while (done < count) {
        while (sent < count && sent - done < inflight) {
          const auto& f = frames[size_t(sent) % frames.size()];
          if (!client.write_all(f.data(), f.size())) return false;
          ++sent;
        }
        if (!client.read_all(reply, sizeof reply)) return false;
        auto r = wire::parse_reply(reply, sizeof reply);
        if (!r || r->status != Errc::ok) return false;
        ++done;
      }
      return true;
    };
    ok = client.fd >= 0 && run(500);  // warm-up: buffers, pools and caches reach their steady state
    for (auto _ : state) {
      if (!ok) break;
      const auto t0 = Clock::now();
      timespec c0{}, c1{};
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
      const uint64_t a0 = g_heap_allocations.load();
      ok = run(kFrames);
      allocations += g_heap_allocations.load() - a0;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
      wall_s += std::chrono::duration<double>(Clock::now() - t0).count();
      cpu_s += double(c1.tv_sec - c0.tv_sec) + 1e-9 * double(c1.tv_nsec - c0.tv_nsec);
      done_total += kFrames;
    }
  }
  (*service)->shutdown();
  io_thread.join();
  if (!ok || done_total == 0) return state.SkipWithError("the service did not answer every frame with status ok");
  state.counters["us_per_frame"] = 1e6 * wall_s / double(done_total);
  state.counters["cpu_us_per_frame"] = 1e6 * cpu_s / double(done_total);
  state.counters["allocs_per_frame"] = double(allocations) / double(done_total);
}
BENCHMARK(BM_ServiceIdentityOverhead)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

#ifdef SLIMCODEC_DETECTION_DIR
// ---- detection server side (server/detection.hpp)

constexpr uint16_t kDetSide = SLIMCODEC_DETECTION_INPUT / 8;  // bottleneck side at the exported teacher input

// CPU seconds used by this process (all its threads): on a loaded machine frames per CPU-second is the per-core
// figure that wall time cannot give.
double process_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

const char* detection_backend(int64_t which) { return which == 0 ? "detect-native" : "detect-torchscript"; }

server::BackendOptions detection_options(int64_t which) {
  if (which == 0) {
    return {{"weights", SLIMCODEC_DETECTION_WEIGHTS}, {"tail", SLIMCODEC_DETECTION_DIR "/teacher_tail.pt"},
            {"threads", "1"}, {"max_pixels", "16384"}};
  }
  return {{"module", SLIMCODEC_DETECTION_DIR "/server.pt"}, {"threads", "1"}};
}

std::vector<uint8_t> detection_frame(uint32_t id) {
  std::vector<float> x(size_t(6) * kDetSide * kDetSide);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.5f * std::sin(0.013f * float(i) + float(id));
  EncodeParams p{4, 4, {6, kDetSide, kDetSide}, quant::Bounds{-3.f, 3.f}, id, 0};
  std::vector<uint8_t> frame(max_frame_size(x.size(), 4));
  frame.resize(*encode_frame(x.data(), p, frame.data(), frame.size()));
  return frame;
}

// One core: dequantize + reconstructor + tail + CenterNet decoding, in-process. Arg 0: detect-native, 1: TorchScript.
void BM_DetectionInProcess(benchmark::State& state) {
  server::BackendRegistry registry;
  server::register_detection_backends(registry);
  auto backend = registry.create(detection_backend(state.range(0)), detection_options(state.range(0)));
  if (!backend) return state.SkipWithError(backend.error().what());
  state.SetLabel(detection_backend(state.range(0)));
  const std::vector<uint8_t> frame = detection_frame(1);
  std::vector<float> x(size_t(6) * kDetSide * kDetSide);
  std::vector<double> ms;
  size_t detections = 0;
  const double cpu0 = process_cpu_s();
  for (auto _ : state) {
    const auto start = Clock::now();
    auto header = decode_frame(frame.data(), frame.size(), x.data(), x.size());
    auto out = (*backend)->decode(x.data(), {6, kDetSide, kDetSide});
    if (!header || !out) return state.SkipWithError("decode failed");
    detections = (*backend)->detections().count;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  state.counters["frames_per_s_core"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["frames_per_cpu_s"] = double(state.iterations()) / (process_cpu_s() - cpu0);
  state.counters["p50_ms"] = percentile(ms, 0.5);
  state.counters["p99_ms"] = percentile(ms, 0.99);
  state.counters["detections"] = double(detections);
}
BENCHMARK(BM_DetectionInProcess)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// Through the TCP service, one worker (one core for the backend): one client keeping 2 frames in flight; the
// replies carry the detections. frames/s and the round trip's p50/p99 on loopback.
void BM_DetectionService(benchmark::State& state) {
  server::BackendRegistry backends;  // the service creates its workers' backends from it
  server::register_detection_backends(backends);
  server::ServiceOptions options;
  options.registry = &backends;
  options.workers = 1;
  options.backend = detection_backend(state.range(0));
  options.backend_options = detection_options(state.range(0));
  state.SetLabel(options.backend);
  asio::io_context io;
  auto service = server::TcpService::create(io, options);
  if (!service) return state.SkipWithError(service.error().what());
  (*service)->start();
  std::thread io_thread([&] { io.run(); });
  constexpr int kInFlight = 2, kFrames = 40;
  std::vector<double> latencies_ms;
  double total_frames = 0, total_s = 0, detections = 0;
  const double cpu0 = process_cpu_s();
  for (auto _ : state) {
    device::TcpTransport client;
    if (!client.connect("127.0.0.1", (*service)->port())) break;
    std::map<uint32_t, Clock::time_point> sent;
    const auto start = Clock::now();
    int next = 0, done = 0;
    while (done < kFrames) {
      while (next < kFrames && next - done < kInFlight) {
        const auto frame = detection_frame(uint32_t(next));
        sent[uint32_t(next)] = Clock::now();
        if (!client.send_frame(frame.data(), frame.size())) break;
        ++next;
      }
      auto reply = client.receive_reply(kReplyWait);
      if (!reply || reply->status != Errc::ok) break;
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent[reply->frame_id]).count());
      detections += double(reply->detection_count);
      ++done;
    }
    total_s += std::chrono::duration<double>(Clock::now() - start).count();
    total_frames += done;
  }
  (*service)->shutdown();
  io_thread.join();
  if (latencies_ms.empty()) return state.SkipWithError("no replies");
  state.counters["frames_per_s_core"] = total_frames / total_s;
  state.counters["frames_per_cpu_s"] = total_frames / (process_cpu_s() - cpu0);  // service, client and I/O threads
  state.counters["p50_ms"] = percentile(latencies_ms, 0.5);
  state.counters["p99_ms"] = percentile(latencies_ms, 0.99);
  state.counters["detections_per_reply"] = detections / total_frames;
}
BENCHMARK(BM_DetectionService)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
#endif

}  // namespace

// Prints throughput of each service configuration as a ratio to the in-process baseline of the same run.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const std::map<std::string, double> throughput = reporter.counter("frames_per_s");
  const auto base = throughput.find("BM_DecodeInProcess/min_time:2.000/real_time");
  if (base != throughput.end() && base->second > 0) {
    std::printf("\nservice throughput / in-process decode throughput (same run, %u cores):\n",
                std::thread::hardware_concurrency());
    for (const auto& [name, fps] : throughput)
      if (name.rfind("BM_ServiceLoopback", 0) == 0) std::printf("  %-45s %.2fx\n", name.c_str(), fps / base->second);
  }
  benchmark::Shutdown();
  return 0;
}
