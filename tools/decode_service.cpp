// slimcodec-decode-service: the server side of split computing. Receives frames from devices over TCP (or from
// an MQTT 5 broker as one of a shared-subscription group), decodes them and replies per frame.
#include <slimcodec/server/builtin.hpp>
#ifdef SLIMCODEC_HAVE_LIBTORCH
#include <slimcodec/server/detection.hpp>
#include <slimcodec/server/libtorch.hpp>
#endif
#include <slimcodec/server/pipeline.hpp>
#include <slimcodec/server/tcp_service.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#ifdef SLIMCODEC_HAVE_MQTT
#include <slimcodec/server/mqtt_service.hpp>

#include <csignal>
#include <unistd.h>

#include <cerrno>
#endif

#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <climits>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_args.hpp"

namespace {

using slimcodec::cli::parse_host_port;
using slimcodec::cli::parse_number;

constexpr const char* kUsage = R"(usage: slimcodec-decode-service [options]

Listens for slimcodec frames (docs/wire-format.md) on TCP, decodes each on a worker pool and replies with a
44-byte reply (frame id, status, result digest, server decode time). SIGTERM/SIGINT: stop accepting, answer
every frame already received, print a summary, exit 0.

With --mqtt it is instead one decoder worker of an MQTT 5 shared-subscription group (docs/mqtt.md): it takes frames
from $share/GROUP/PREFIX/frames/+ and publishes each reply to the frame's Response Topic. SIGTERM/SIGINT then:
unsubscribe, answer every frame received, wait for the broker's acknowledgements, disconnect, print a summary.

options:
  --bind ADDR          address to listen on (default 127.0.0.1)
  --port N             TCP port (default 7878; 0 picks a free one and prints it)
  --workers N          decode threads, each with its own backend instance (default 2)
  --io-threads N       threads running the network side: accepting, reading, parsing, writing replies (default 2:
                       under a flood of connections the second one took the good clients' p99 from 9.9 to 8.6 ms)
  --backend NAME       decoder backend (default identity); --list-backends shows what this build has; with
                       LibTorch: detect-native (weights=W tail=teacher_tail.pt), detect-torchscript (module=server.pt)
  --option KEY=VALUE   backend setting, repeatable (e.g. weights=model.safetensors; native: max_pixels=N, the
                       largest H x W accepted, default 9216; height=H width=W, the size the network is built for
                       at start, default the trained size; native without weights= or random_seed= loads the
                       published trained model, training/weights/slimcodec-centernet-256-cpu.safetensors)
  --entropy-tables FILE  codec-1 (rANS) frames are decoded with the tables in FILE, a *.entropy.safetensors file
                       (tools/fit_entropy_tables). Default: none, and a codec-1 frame is answered
                       entropy_table_mismatch; except with --backend native on the published model (no weights= or
                       random_seed=), which loads the published tables beside it,
                       training/weights/slimcodec-centernet-256-cpu.entropy.safetensors. "none": no tables
  --max-inflight N     frames decoding plus replies unwritten, per connection, before reading pauses (default 32)
  --max-connections N  connections served at once (default 1024); when full, a new client takes the place of the
                       slowest connection not waiting for a reply, or is closed on accept if every one is
  --memory-budget-mb N memory for frames across all connections (TCP) or messages (MQTT): parser buffers, payloads
                       being decoded and their dequantized floats; a frame that does not fit is answered
                       `overloaded` (default 1024)
  --send-buffer-bytes N  SO_SNDBUF of each connection (default: the system's, autotuned up to its maximum): the
                       kernel memory a client that does not read its replies can hold, and how many frames it gets
                       answered before its reading pauses
  --idle-timeout-ms N  close connections with nothing to do for this long (default 30000)
  --frame-timeout-ms N close a connection whose frame is not complete this long after its first byte (default 60000)
  --min-frame-rate N   bytes per second a frame in progress must keep after the grace, else the connection is
                       closed (default 4096; 0: off)
  --frame-grace-ms N   time a frame has from its first byte before its rate counts (default 2000)
  --write-timeout-ms N close a connection that does not read its replies for this long (default 30000)
  --shutdown-grace-ms N  after SIGTERM, cut connections still open after this long (default 10000)
  --mqtt HOST:PORT     MQTT mode: connect to this broker instead of listening on TCP
  --group NAME         MQTT shared-subscription group (default decoders)
  --client-id ID       MQTT client id, unique per worker (default: generated)
  --topic-prefix P     MQTT topic prefix (default slimcodec)
  --max-queued N       MQTT: frames waiting for a decode thread before intake pauses (default 64)
  --list-backends      print the registered backend names and exit
  --help               this text
)";

// The published model's codec-1 tables: SLIMCODEC_TRAINED_WEIGHTS with .entropy.safetensors for .safetensors.
std::string published_entropy_tables() {
  std::string path = SLIMCODEC_SOURCE_DIR "/" SLIMCODEC_TRAINED_WEIGHTS;
  const std::string ext = ".safetensors";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    path.resize(path.size() - ext.size());
  return path + ".entropy" + ext;
}

// Milliseconds for a timeout: 1 ms .. 24 h.
bool parse_ms(const char* text, std::chrono::milliseconds& out) {
  size_t n = 0;
  if (!parse_number(text, n) || n < 1 || n > size_t(24) * 3600 * 1000) return false;
  out = std::chrono::milliseconds(n);
  return true;
}

// What the command line asks for.
struct Config {
  slimcodec::server::ServiceOptions tcp;  // tcp.registry: the program's backends (main())
  std::string mqtt_broker, mqtt_group = "decoders", mqtt_client_id, mqtt_prefix = "slimcodec";
  size_t mqtt_max_queued = 64;
  size_t io_threads = 2;
  bool tcp_only_flag = false;
  std::string entropy_tables_path;  // --entropy-tables; empty: the default (see --help)
  std::string tables_note;          // what was loaded, for the start line
};

// The shutdown summary, one line for either transport: the pipeline's counts (the same words for TCP and MQTT:
// tests read "frames received", "answered" and "unanswered"), the transport's own, then the peak memory.
void print_summary(const slimcodec::server::FrameStats& s, size_t budget,
                   std::initializer_list<std::pair<const char*, uint64_t>> transport) {
  std::printf("shutdown: %llu frames received, %llu answered, %llu decode errors, %llu overloaded, %llu unanswered, "
              "%llu refused before decoding",
              (unsigned long long)s.frames_received, (unsigned long long)s.frames_answered,
              (unsigned long long)s.frames_decode_failed, (unsigned long long)s.frames_overloaded,
              (unsigned long long)s.frames_unanswered, (unsigned long long)s.frames_refused);
  for (const auto& [what, n] : transport) std::printf(", %llu %s", (unsigned long long)n, what);
  std::printf(", peak memory %.1f MiB of %.1f MiB\n", double(s.memory_peak) / (1 << 20), double(budget) / (1 << 20));
  std::fflush(stdout);
}

#ifdef SLIMCODEC_HAVE_MQTT

// SIGINT/SIGTERM write a byte here; run_mqtt() waits for it. A handler rather than sigwait() on a blocked mask: a
// library may start threads before main() (LibTorch's pools do), and a thread without the mask would take the
// signal's default action, ending the process before it answers the frames it holds.
int g_stop_pipe[2] = {-1, -1};
extern "C" void on_stop_signal(int) {
  const char c = 1;
  [[maybe_unused]] ssize_t n = write(g_stop_pipe[1], &c, 1);
}

int run_mqtt(const Config& config) {
  using namespace slimcodec;
  server::MqttServiceOptions options;
  if (!slimcodec::cli::parse_host_port(config.mqtt_broker, options.host, options.port))
    return std::fprintf(stderr, "--mqtt wants HOST:PORT, got %s\n", config.mqtt_broker.c_str()), 2;
  if (config.tcp_only_flag)
    return std::fprintf(stderr, "--bind, --port and --io-threads are for TCP mode, not --mqtt\n"), 2;
  options.group = config.mqtt_group;
  options.client_id = config.mqtt_client_id;
  options.topic_prefix = config.mqtt_prefix;
  options.workers = config.tcp.workers;
  options.backend = config.tcp.backend;
  options.backend_options = config.tcp.backend_options;
  options.registry = config.tcp.registry;
  options.entropy_tables = config.tcp.entropy_tables;
  options.limits = config.tcp.limits;
  options.max_queued = config.mqtt_max_queued;
  options.memory_budget = config.tcp.memory_budget;

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  if (pipe(g_stop_pipe) != 0 || sigaction(SIGINT, &sa, nullptr) != 0 || sigaction(SIGTERM, &sa, nullptr) != 0) {
    std::perror("cannot install the SIGINT/SIGTERM handler");
    return 1;
  }
  auto service = server::MqttDecodeService::start(options);
  if (!service) {
    std::fprintf(stderr, "cannot start: %s\n", service.error().what());
    return 1;
  }
  std::printf("mqtt: subscribed to %s on %s:%u as %s, backend %s, %zu workers, %s\n",
              (*service)->subscription().c_str(), options.host.c_str(), options.port, (*service)->client_id().c_str(),
              options.backend.c_str(), options.workers, config.tables_note.c_str());
  std::fflush(stdout);
  char c = 0;
  while (read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  (*service)->shutdown();
  const auto& s = (*service)->stats();
  print_summary(s, options.memory_budget,
                {{"messages", s.messages_received},
                 {"bad messages", s.bad_messages},
                 {"bad messages answered", s.bad_messages_answered},
                 {"dropped without response topic", s.messages_dropped},
                 {"dropped at close", s.messages_dropped_closing},
                 {"replies acknowledged", s.replies_acked},
                 {"replies failed", s.replies_failed},
                 {"payload buffers allocated", s.payload_allocations}});
  return 0;
}
#endif

// Reads the command line into `c`. Returns -1 to go on, or the exit status (--help, --list-backends, a bad value).
int parse_args(int argc, char** argv, Config& c) {
  using namespace slimcodec;
  c.tcp.port = 7878;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* taken = nullptr;  // the value this option consumed, for the error message
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n%s", arg.c_str(), kUsage);
        std::exit(2);
      }
      return taken = argv[++i];
    };
    size_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--list-backends") {
      for (const auto& name : c.tcp.registry->names()) std::printf("%s\n", name.c_str());
      return 0;
    } else if (arg == "--bind") {
      c.tcp.bind_address = value();
      c.tcp_only_flag = true;
    } else if (arg == "--port" && parse_number(value(), n) && n <= 65535) {
      c.tcp.port = uint16_t(n);
      c.tcp_only_flag = true;
    } else if (arg == "--mqtt") {
      c.mqtt_broker = value();
    } else if (arg == "--group") {
      c.mqtt_group = value();
    } else if (arg == "--client-id") {
      c.mqtt_client_id = value();
    } else if (arg == "--topic-prefix") {
      c.mqtt_prefix = value();
    } else if (arg == "--max-queued" && parse_number(value(), n) && n >= 1) {
      c.mqtt_max_queued = n;
    } else if (arg == "--workers" && parse_number(value(), n) && n >= 1 && n <= 256) {
      c.tcp.workers = n;
    } else if (arg == "--io-threads" && parse_number(value(), n) && n >= 1 && n <= 64) {
      c.io_threads = n;
      c.tcp_only_flag = true;
    } else if (arg == "--backend") {
      c.tcp.backend = value();
    } else if (arg == "--entropy-tables") {
      c.entropy_tables_path = value();
      if (c.entropy_tables_path.empty()) return std::fprintf(stderr, "--entropy-tables wants a file or none\n"), 2;
    } else if (arg == "--option") {
      const std::string kv = value();
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) return std::fprintf(stderr, "--option wants KEY=VALUE\n"), 2;
      c.tcp.backend_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (arg == "--max-inflight" && parse_number(value(), n) && n >= 1 && n <= 65536) {
      c.tcp.max_inflight_per_connection = n;
    } else if (arg == "--max-connections" && parse_number(value(), n) && n >= 1 && n <= 1000000) {
      c.tcp.max_connections = n;
    } else if (arg == "--memory-budget-mb" && parse_number(value(), n) && n >= 1 && n <= (size_t(1) << 24)) {
      c.tcp.memory_budget = n << 20;
    } else if (arg == "--send-buffer-bytes" && parse_number(value(), n) && n >= 1024 && n <= size_t(INT_MAX)) {
      c.tcp.send_buffer_bytes = n;
    } else if (arg == "--idle-timeout-ms" && parse_ms(value(), c.tcp.idle_timeout)) {
    } else if (arg == "--frame-timeout-ms" && parse_ms(value(), c.tcp.frame_timeout)) {
    } else if (arg == "--min-frame-rate" && parse_number(value(), n) && n <= (size_t(1) << 30)) {
      c.tcp.min_frame_rate = n;
    } else if (arg == "--frame-grace-ms" && parse_ms(value(), c.tcp.frame_grace)) {
    } else if (arg == "--write-timeout-ms" && parse_ms(value(), c.tcp.write_timeout)) {
    } else if (arg == "--shutdown-grace-ms" && parse_ms(value(), c.tcp.shutdown_grace)) {
    } else if (taken != nullptr) {
      std::fprintf(stderr, "bad value for %s: '%s' (see --help)\n", arg.c_str(), taken);
      return 2;
    } else {
      std::fprintf(stderr, "unknown argument: %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  return -1;
}

// The codec-1 tables the command line names (or the published model's), loaded into c.tcp.entropy_tables.
// Returns false (after a message) when they cannot be loaded.
bool load_tables(Config& c) {
  using namespace slimcodec;
  // The native backend's default model: the published trained weights of this source tree.
  // With it, its codec-1 tables (the same name with .entropy.safetensors), which the device side uses by default.
  if (c.tcp.backend == "native" && !c.tcp.backend_options.count("weights") &&
      !c.tcp.backend_options.count("random_seed")) {
    c.tcp.backend_options["weights"] = SLIMCODEC_SOURCE_DIR "/" SLIMCODEC_TRAINED_WEIGHTS;
    if (c.entropy_tables_path.empty()) c.entropy_tables_path = published_entropy_tables();
  }
  if (c.entropy_tables_path == "none") c.entropy_tables_path.clear();
  if (!c.entropy_tables_path.empty()) {
    auto file = weights::SafeTensorsFile::open(c.entropy_tables_path);
    auto tables = file ? weights::load_entropy_tables(*file) : Result<entropy::TableSet>(file.error());
    if (!tables) {
      std::fprintf(stderr, "cannot load entropy tables from %s: %s\n", c.entropy_tables_path.c_str(),
                   tables.error().what());
      return false;
    }
    c.tcp.entropy_tables = std::make_shared<const entropy::TableSet>(std::move(*tables));
  }
  c.tables_note =
      c.tcp.entropy_tables ? "entropy tables id " + std::to_string(c.tcp.entropy_tables->id()) + " (" +
                                   c.entropy_tables_path + ")"
                             : std::string("no entropy tables (codec-1 frames answered entropy_table_mismatch)");
  return true;
}

int run_tcp(const Config& c) {
  using namespace slimcodec;
#ifdef __GLIBC__
  // Frame buffers (up to 16 MiB each) go straight to mmap and back to the system when freed. glibc's default
  // threshold rises to the size of each big block freed, after which such buffers come from the heap and stay in
  // the process once the load is gone (tests/server/hostile_clients measures RSS after each burst).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // Below that threshold each thread that allocates gets an arena of its own (up to 8 per core), and every arena
  // keeps its freed blocks: hostile_clients measured RSS after three bursts growing 20 MiB with glibc's default
  // and within its 16 MiB leak margin with 4 arenas (the I/O threads and workers allocate little per frame).
  mallopt(M_ARENA_MAX, 4);
#endif
  // One descriptor per connection: raise the soft limit toward the hard one so that max_connections fit (a soft
  // limit of 1024 is common, and so is max_connections). If they still run out, accept() backs off and retries.
  rlimit nofile{};
  const rlim_t wanted_fds = rlim_t(c.tcp.max_connections) + 64;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < wanted_fds) {
    nofile.rlim_cur = std::min(wanted_fds, nofile.rlim_max);
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  asio::io_context io;
  auto service = server::TcpService::create(io, c.tcp);
  if (!service) {
    std::fprintf(stderr, "cannot start: %s\n", service.error().what());
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (!ec) (*service)->shutdown();
  });
  (*service)->start();
  std::printf("listening on %s:%u, backend %s, %zu workers, %zu I/O threads, %s\n", c.tcp.bind_address.c_str(),
              (*service)->port(), c.tcp.backend.c_str(), c.tcp.workers, c.io_threads, c.tables_note.c_str());
  std::fflush(stdout);
  std::vector<std::thread> io_runners;
  for (size_t i = 1; i < c.io_threads; ++i) io_runners.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : io_runners) t.join();
  (*service)->stop_workers();  // frames still queued after the grace are dropped, not decoded
  const auto& s = (*service)->stats();
  print_summary(s, c.tcp.memory_budget,
                {{"connections", s.connections_accepted},
                 {"bad streams", s.connections_failed},
                 {"cut", s.connections_cut},
                 {"timed out", s.connections_timed_out},
                 {"accept errors", s.accept_errors},
                 {"evicted", s.connections_evicted},
                 {"too slow", s.connections_too_slow}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace slimcodec;
  server::BackendRegistry backends;
  server::register_builtin_backends(backends);  // identity, native (server/builtin.hpp)
#ifdef SLIMCODEC_HAVE_LIBTORCH
  server::register_libtorch_backend(backends);     // libtorch (server/libtorch.hpp)
  server::register_detection_backends(backends);  // detect-native, detect-torchscript (server/detection.hpp)
#endif
  Config config;
  config.tcp.registry = &backends;
  if (const int status = parse_args(argc, argv, config); status >= 0) return status;
  if (!load_tables(config)) return 1;
  if (config.mqtt_broker.empty()) return run_tcp(config);
#ifdef SLIMCODEC_HAVE_MQTT
  return run_mqtt(config);
#else
  std::fprintf(stderr, "--mqtt: this build has no MQTT support (needs libmosquitto-dev at configure time)\n");
  return 2;
#endif
}
