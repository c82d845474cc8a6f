// slimcodec-link-shaper: the emulated radio link as its own process (docs/adaptive.md, "Link shaper"): a TCP proxy,
// device -> shaper -> decode service, that plays a bandwidth trace on the device -> server direction. Used by
// scripts/demo's video part between slimcodec-device and slimcodec-decode-service.
//
//   slimcodec-link-shaper --upstream HOST:PORT (--trace FILE | --rates B/S,B/S,... [--step-s S]) [--port N]
//
// --rates: each rate for step-s seconds (default 8), in turn, repeating. Prints "listening on 127.0.0.1:PORT" once
// it accepts; SIGINT/SIGTERM: close, print the bytes moved, exit 0.
#include <emulation/link_shaper.hpp>
#include <emulation/link_trace.hpp>

#include "cli_args.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::emulation;

namespace {

bool parse_rates(const std::string& text, std::vector<double>& rates) {
  rates.clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, end - pos);
    char* stop = nullptr;
    const double v = std::strtod(item.c_str(), &stop);
    if (item.empty() || *stop != '\0' || !(v >= 0) || !(v < 1e12)) return false;
    rates.push_back(v);
    pos = end + 1;
  }
  return !rates.empty();
}

int usage_error(const std::string& line) {
  std::fprintf(stderr, "slimcodec-link-shaper: %s (see the comment at the top of tools/link_shaper.cpp)\n", line.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ShaperOptions options;
  std::string trace_path;
  std::vector<double> rates;
  double step_s = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage_error(a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--upstream") {
      if (!cli::parse_host_port(v, options.upstream_host, options.upstream_port))
        return usage_error("bad --upstream '" + v + "'");
    } else if (a == "--port") {  // 0: any free port, printed once listening
      unsigned port = 0;
      if (!cli::parse_number(v.c_str(), port) || port > 65535) return usage_error("bad --port '" + v + "'");
      options.listen_port = uint16_t(port);
    } else if (a == "--trace") {
      trace_path = v;
    } else if (a == "--rates") {
      if (!parse_rates(v, rates)) return usage_error("bad --rates '" + v + "'");
    } else if (a == "--step-s") {
      char* stop = nullptr;
      step_s = std::strtod(v.c_str(), &stop);
      if (*stop != '\0' || !(step_s > 0) || !(step_s < 1e6)) return usage_error("bad --step-s '" + v + "'");
    } else {
      return usage_error("unknown argument '" + a + "'");
    }
  }
  if (options.upstream_port == 0) return usage_error("--upstream HOST:PORT is required");
  if (trace_path.empty() == rates.empty()) return usage_error("give one of --trace FILE and --rates");

  Result<LinkTrace> trace = Error{Errc::invalid_argument, "no trace"};
  if (!trace_path.empty()) {
    size_t line = 0;
    trace = LinkTrace::load(trace_path, &line);
    if (!trace) {
      std::fprintf(stderr, "slimcodec-link-shaper: trace %s, line %zu: %s\n", trace_path.c_str(), line,
                   trace.error().what());
      return 1;
    }
  } else {
    std::vector<TracePoint> points;  // an hour of the steps, then the last rate holds
    const size_t steps = size_t(3600 / step_s) + 1;
    for (size_t k = 0; k < steps; ++k) points.push_back({double(k) * step_s, rates[k % rates.size()]});
    trace = LinkTrace::from_points(points);
    if (!trace) return std::fprintf(stderr, "slimcodec-link-shaper: %s\n", trace.error().what()), 1;
  }

  asio::io_context io;
  auto shaper = LinkShaper::create(io, std::move(*trace), options);
  if (!shaper) return std::fprintf(stderr, "slimcodec-link-shaper: %s\n", shaper.error().what()), 1;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (ec) return;
    (*shaper)->shutdown();
    io.stop();
  });
  (*shaper)->start();
  std::printf("listening on %s:%u, upstream %s:%u\n", options.listen_address.c_str(), (*shaper)->port(),
              options.upstream_host.c_str(), options.upstream_port);
  std::fflush(stdout);
  io.run();
  const auto& s = (*shaper)->stats();
  std::printf("shutdown: %llu connections, %llu bytes up (shaped), %llu bytes down, %llu upstream failures\n",
              (unsigned long long)s.connections.load(), (unsigned long long)s.bytes_up.load(),
              (unsigned long long)s.bytes_down.load(), (unsigned long long)s.upstream_failures.load());
  return 0;
}
