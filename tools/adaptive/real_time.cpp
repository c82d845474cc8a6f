#include "real_time.hpp"

#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/server/callback.hpp>
#include <slimcodec/server/native.hpp>
#include <slimcodec/server/tcp_service.hpp>
#include <slimcodec/weights/safetensors.hpp>
#include <emulation/link_shaper.hpp>
#include <emulation/tc_link.hpp>

#include <cstdio>
#include <string>
#include <thread>

namespace slimcodec::adaptive_demo {

namespace {

// The latency model for one frame: encode + transfer integrated over the trace from the send instant + server.
double model_rtt_ms(const LinkTrace& trace, double start_ms, double encode_ms, double bytes, double server_ms) {
  const double send = start_ms + encode_ms;
  return 1000.0 * trace.finish_time(send / 1000.0, bytes) + server_ms - start_ms;
}

// Restarts the played trace and tells when it started, on whichever link plays it.
struct TraceControl {
  emulation::TcLink* tc = nullptr;
  LinkShaper* shaper = nullptr;
  void restart() const { tc ? tc->restart_trace() : shaper->restart_trace(); }
  auto epoch() const { return tc ? tc->trace_epoch() : shaper->trace_epoch(); }
};

// The decode service in this process (the emulated server pads the backend's time), inside tc's network namespace
// when there is one, started. Null after printing why not.
std::unique_ptr<server::TcpService> start_decode_service(const Options& o, asio::io_context& io, emulation::TcLink* tc,
                                                         const SharedTables& tables) {
  server::BackendRegistry backends;  // used while the service is created; the built-in ones are added by it
  backends.add("emulated-server", make_padded_backend);
  server::ServiceOptions so;
  so.registry = &backends;
  so.workers = 1;  // one device, one frame in flight
  so.backend = o.server_ms > 0 ? "emulated-server" : o.backend;
  so.backend_options = {{"inner", o.backend}, {"pad_ms", std::to_string(o.server_ms)}};
  if (o.backend == "native") {  // the reconstructor of the same model, or the fixture's for an encoder-only file
    auto file = weights::SafeTensorsFile::open(o.weights);
    so.backend_options["weights"] = file && file->count_with_prefix("reconstructor.") > 0
                                        ? o.weights
                                        : kSource + "/tests/data/reconstructor_weights.safetensors";
  }
  so.entropy_tables = tables;  // codec 1: the device's tables
  if (tc) so.bind_address = tc->service_address();
  Result<std::unique_ptr<server::TcpService>> s = Error{Errc::invalid_argument, "not created"};
  auto create = [&] { s = server::TcpService::create(io, so); };
  if (!tc) {
    create();
  } else if (auto entered = tc->in_namespace(create); !entered) {
    std::fprintf(stderr, "%s\n", entered.error().what());
    return nullptr;
  }
  if (!s) {
    std::fprintf(stderr, "decode service: %s\n", s.error().what());
    return nullptr;
  }
  (*s)->start();
  return std::move(*s);
}

// Two warm-up frames teach the table the server's time; every deadline run then starts from that table with a
// fresh controller and bandwidth estimator (as the simulator does).
bool warm_up(EmulatedDevice& device, TcpTransport& link, const std::vector<std::vector<float>>& inputs,
             const entropy::TableSet* tables, OperatingPointTable& base, std::vector<double>& server_samples) {
  OperatingPointTable warm = base;
  DeviceLoop<EmulatedDevice> loop(device, link, warm, DeviceLoopOptions{});
  loop.frame_encoder().set_entropy_tables(tables);
  for (int i = 0; i < 2; ++i) {
    auto r = loop.process(inputs[0].data());
    if (!r) {
      std::fprintf(stderr, "warm-up frame: %s\n", r.error().what());
      return false;
    }
    server_samples.push_back(r->server_ms);
  }
  for (unsigned s = 1; s <= kMaxMembers; ++s)
    for (unsigned b = 1; b <= kMaxBits; ++b) base.observe_server_ms(s, b, median(server_samples));
  std::printf("  warm-up: server decode %.1f ms\n", median(server_samples));
  return true;
}

// "codec 0", or "codec 1 on N of K frames" (the others went as codec 0: no table for their b, or not smaller).
std::string codec_summary(const Options& o, size_t coded, size_t frames) {
  if (o.codec != 1) return "codec 0 (bit-packed)";
  return "codec 1 (entropy-coded) on " + std::to_string(coded) + " of " + std::to_string(frames) + " frames";
}

// One deadline in real time: a fresh table, controller and estimator; the trace restarted; a frame every interval
// over the segment, each printed unless --quiet, then a summary line. Appends to `out`.
bool run_deadline(const Options& o, double deadline, const LinkTrace& segment, const TraceControl& trace,
                  EmulatedDevice& device, TcpTransport& link, const entropy::TableSet* tables,
                  const OperatingPointTable& base,
                  const std::vector<std::vector<float>>& inputs, const std::array<double, kMaxMembers>& calibrated,
                  RealTimeResults& out) {
  OperatingPointTable table = base;
  DeviceLoopOptions lo;
  lo.controller = controller_options(o, deadline);
  lo.bandwidth = bandwidth_options(o);
  lo.prior_bytes_per_s = o.prior;
  DeviceLoop<EmulatedDevice> loop(device, link, table, lo);
  loop.frame_encoder().set_entropy_tables(tables);  // null: codec 0
  std::printf("\n=== deadline %g ms: %.0f s of trace, one frame every %g ms ===\n", deadline, segment.duration_s(),
              frame_interval(o, deadline));
  trace.restart();
  loop.set_epoch(trace.epoch());
  double next = 0;
  size_t k = 0;
  while (next < 1000.0 * segment.duration_s()) {
    std::this_thread::sleep_until(trace.epoch() + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double, std::milli>(next)));
    auto r = loop.process(inputs[k % inputs.size()].data());
    if (!r) {
      std::fprintf(stderr, "frame %zu: %s\n", k, r.error().what());
      return false;
    }
    RealFrame f{deadline, *r, segment.rate_at(r->send_ms / 1000), 0};
    f.model_rtt = model_rtt_ms(segment, r->start_ms, calibrated[r->s - 1], double(r->bytes), median(out.server_samples));
    out.frames.push_back(f);
    out.server_samples.push_back(r->server_ms);
    if (!o.quiet)
      std::printf("[%3g] #%3zu t=%5.1fs link %5.1f kB/s est %5.1f -> s=%u b=%u %5.1f kB%s  enc %5.1f srv %5.1f  "
                  "RTT %6.1f (pred %5.1f, model %5.1f) %s\n",
                  deadline, k + 1, r->start_ms / 1000, f.link_rate / 1e3, r->estimate_bytes_per_s / 1e3, r->s, r->b,
                  double(r->bytes) / 1e3, o.codec == 1 ? (r->codec == wire::Codec::rans ? " c1" : " c0") : "",
                  r->encode_ms, r->server_ms, r->rtt_ms, r->predicted_ms, f.model_rtt, r->deadline_met ? "hit" : "MISS");
    next = std::max(r->start_ms + frame_interval(o, deadline), loop.now_ms());
    ++k;
  }
  size_t hits = 0, coded = 0;
  double acc = 0, bytes = 0;
  for (const RealFrame& f : out.frames)
    if (f.deadline_ms == deadline)
      hits += f.r.deadline_met, acc += f.r.accuracy, bytes += double(f.r.bytes),
      coded += f.r.codec == wire::Codec::rans;
  std::printf("--- deadline %g ms (real time): %zu frames, %.1f %% within the deadline, mean expected accuracy "
              "%.2f, mean %.1f kB/frame, %s\n", deadline, k, 100.0 * double(hits) / double(k), acc / double(k),
              bytes / double(k) / 1e3, codec_summary(o, coded, k).c_str());
  // A reply with an error status (e.g. entropy_table_mismatch from a --service without the tables) is a miss too;
  // say so, since it is not a link or timing problem.
  size_t failed = 0;
  const char* first = nullptr;
  for (const RealFrame& f : out.frames)
    if (f.deadline_ms == deadline && f.r.status != Errc::ok && f.r.status != Errc::timed_out)
      ++failed, first = first ? first : message(f.r.status);
  if (failed) std::printf("    %zu frames answered with an error status (first: %s)\n", failed, first);
  return true;
}

}  // namespace

int run_real_time(const Options& o, const LinkTrace& segment, EmulatedDevice& device, const SharedTables& tables,
                  const std::vector<std::vector<float>>& inputs, const std::array<double, kMaxMembers>& calibrated,
                  OperatingPointTable& base, RealTimeResults& out) {
  asio::io_context service_io, shaper_io;
  std::unique_ptr<server::TcpService> service;
  std::string upstream_host = o.service_host;
  uint16_t upstream_port = o.service_port;
  std::unique_ptr<emulation::TcLink> tc;  // declared first: the namespace outlives the service's sockets
  if (o.tc_link) {
    auto created = emulation::TcLink::create(segment);
    if (!created) return std::fprintf(stderr, "%s\n", created.error().what()), kLinkUnavailable;
    tc = std::move(*created);
  }
  if (o.service_host.empty()) {
    service = start_decode_service(o, service_io, tc.get(), tables);
    if (!service) return 1;
    upstream_host = tc ? tc->service_address() : "127.0.0.1";
    upstream_port = service->port();
  }
  // The link: the in-process shaper in front of the service, or nothing here (the kernel shapes the veth).
  std::unique_ptr<LinkShaper> shaper;
  if (!tc) {
    ShaperOptions sh;
    sh.upstream_host = upstream_host;
    sh.upstream_port = upstream_port;
    auto created = LinkShaper::create(shaper_io, segment, sh);
    if (!created) return std::fprintf(stderr, "link shaper: %s\n", created.error().what()), 1;
    shaper = std::move(*created);
    shaper->start();
  }
  const TraceControl trace{tc.get(), shaper.get()};
  std::thread service_thread([&] { service_io.run(); });
  std::thread shaper_thread([&] { shaper_io.run(); });
  auto stop_threads = [&] {
    if (shaper) shaper->shutdown();
    shaper_io.stop();
    if (service) service->shutdown();
    shaper_thread.join();
    service_thread.join();
  };
  TcpTransport link;
  const std::string link_host = tc ? upstream_host : "127.0.0.1";
  const uint16_t link_port = tc ? upstream_port : shaper->port();
  if (auto c = link.connect(link_host, link_port); !c) {
    stop_threads();
    return std::fprintf(stderr, "connect: %s\n", c.error().what()), 1;
  }
  if (tc)
    std::printf("  decode service at %s:%u in a network namespace, behind tc tbf on %s (kernel-shaped link)\n",
                upstream_host.c_str(), upstream_port, tc->interface().c_str());
  else
    std::printf("  decode service on port %u behind the link shaper on port %u\n", upstream_port, shaper->port());

  bool ok = warm_up(device, link, inputs, tables.get(), base, out.server_samples);
  for (size_t i = 0; ok && i < o.deadlines.size(); ++i)
    ok = run_deadline(o, o.deadlines[i], segment, trace, device, link, tables.get(), base, inputs, calibrated, out);
  if (!ok) {
    stop_threads();
    return 1;
  }
  link.close();
  if (tc) std::printf("tc link: %zu rate changes applied, %zu failed\n", tc->rate_changes(), tc->failed_changes());
  stop_threads();
  return 0;
}

}  // namespace slimcodec::adaptive_demo
