// Decode service on loopback: throughput (frames/s) and p50/p99 latency with 1, 2 and 4 workers, native
// backend, paper-sized frames (6x96x96 at 4 bits). Baseline in the same run: the same backend decoding the same
// frame in-process, with no transport; the service's cost is reported as a ratio to it.
// With LibTorch and the exported detection models: the detection server side both ways (native reconstructor +
// LibTorch tail, and the all-TorchScript server.pt) on the deployed 6x64x64 bottleneck, one thread each, in-process
// and through the service with one worker: frames/s per core and p50/p99.
#include <slimcodec/codec.hpp>
#include <slimcodec/server/native.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/tcp_service.hpp>
#ifdef SLIMCODEC_DETECTION_DIR
#include <slimcodec/server/detection.hpp>
#endif

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <thread>

using namespace slimcodec;
using Clock = std::chrono::steady_clock;

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
  auto backend = server::BackendRegistry::global().create("native", kNative);
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
  server::register_detection_backends();  // the service creates its workers' backends from the global registry
  server::ServiceOptions options;
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
  struct Collect : benchmark::ConsoleReporter {
    std::map<std::string, double> fps;
    void ReportRuns(const std::vector<Run>& runs) override {
      for (const auto& r : runs) {
        auto it = r.counters.find("frames_per_s");
        if (it != r.counters.end()) fps[r.benchmark_name()] = it->second;
      }
      ConsoleReporter::ReportRuns(runs);
    }
  } reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const auto base = reporter.fps.find("BM_DecodeInProcess/min_time:2.000/real_time");
  if (base != reporter.fps.end() && base->second > 0) {
    std::printf("\nservice throughput / in-process decode throughput (same run, %u cores):\n",
                std::thread::hardware_concurrency());
    for (const auto& [name, fps] : reporter.fps)
      if (name.rfind("BM_ServiceLoopback", 0) == 0) std::printf("  %-45s %.2fx\n", name.c_str(), fps / base->second);
  }
  benchmark::Shutdown();
  return 0;
}
