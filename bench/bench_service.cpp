// Decode service on loopback: throughput (frames/s) and p50/p99 latency with 1, 2 and 4 workers, native
// backend, paper-sized frames (6x96x96 at 4 bits). Baseline in the same run: the same backend decoding the same
// frame in-process, with no transport; the service's cost is reported as a ratio to it.
#include <slimcodec/codec.hpp>
#include <slimcodec/decode/native.hpp>
#include <slimcodec/serve/tcp_client.hpp>
#include <slimcodec/serve/tcp_service.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

using namespace slimcodec;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint16_t kC = 6, kH = 96, kW = 96;

std::vector<uint8_t> paper_frame(uint32_t id) {
  std::vector<float> x(size_t(kC) * kH * kW);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.01f * float(i) + float(id));
  EncodeParams p{1, 4, {kC, kH, kW}, quant::Bounds{-1.f, 1.f}, id, 0};
  std::vector<uint8_t> frame(max_frame_size(x.size(), 4));
  frame.resize(*encode_frame(x.data(), p, frame.data(), frame.size()));
  return frame;
}

const decode::BackendOptions kNative{{"random_seed", "1"}};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

// Baseline: dequantize + native reconstructor in-process.
void BM_DecodeInProcess(benchmark::State& state) {
  auto backend = decode::BackendRegistry::global().create("native", kNative);
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
  serve::ServiceOptions options;
  options.workers = size_t(state.range(0));
  options.backend = "native";
  options.backend_options = kNative;
  asio::io_context io;
  auto service = serve::TcpService::create(io, options);
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
        serve::TcpClient client;
        if (!client.connect("127.0.0.1", (*service)->port())) return;
        std::map<uint32_t, Clock::time_point> sent;
        int next = 0, done = 0;
        while (done < kFramesPerClient) {
          while (next < kFramesPerClient && next - done < kInFlight) {
            const auto frame = paper_frame(uint32_t(c * 100 + next));
            sent[uint32_t(c * 100 + next)] = Clock::now();
            if (!client.send(frame.data(), frame.size())) return;
            ++next;
          }
          auto reply = client.receive();
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
