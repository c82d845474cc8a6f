// Hostile-client stress test of slimcodec-decode-service, loopback only, bounded in time and count.
//
// Starts the real service binary as a separate process with an explicit memory budget and short timeouts, then per
// repetition: 4 good clients measure their round trips alone (unloaded p99), then again while 1,000 hostile
// connections of every kind below run (loaded p99):
//   idle         connect and send nothing (idle timeout)
//   slowloris    a header announcing a 16 MiB payload, then 1 byte per second (frame deadline)
//   non_reader   small receive buffer, sends frames without end, never reads a reply (bounded outbox, write deadline)
//   maximal      a whole valid 16 MiB frame (8 x 4096 x 4096 at 1 bit: 512 MiB of floats): `overloaded`
//   large        a valid 2 MiB frame (8 x 512 x 512 at 8 bits, 10 MiB with its floats): ok or `overloaded`
//   oversized    a header announcing 32 MiB, above the payload limit: `length_too_large`
//   garbage      random bytes: an error reply, then closed
//   bad_crc      a valid small frame with its frame CRC flipped: `crc_mismatch`, then closed
//   bad_header   a header with zero channels (header CRC correct): an error reply, then closed
//   churn        connect and close at once (half of them with a reset), spread over the first seconds
// Asserted: every good frame is answered ok with its digest; loaded p99 <= max(5 x unloaded p99, unloaded p99 +
// 50 ms); the service's RSS (VmRSS sampled every 20 ms, and VmHWM) stays under its budget; every hostile connection
// gets the answer its kind calls for within the phase's deadline; the service is alive after each repetition; RSS
// after the last repetition is within 16 MiB of RSS after the second (no leak; the first warms the allocator up, and
// of two repetitions the first is the baseline); SIGTERM ends it with exit status 0 within 20 s and its counts
// balance (received = answered + unanswered). A last scenario runs a second service with a soft and hard
// descriptor limit of 128: 300 connections make accept() fail with EMFILE; once they are gone a new client is
// answered. The guard scenario runs a service with the native backend: 92-byte codec-1 frames declaring up
// to 32 x 4096 x 4096 values, a codec-1 frame and no tables, 6 x 4096 x 2, bounds of +-3e37 and a 12.6 MB frame of
// 6 x 4096 x 4096 values must each get their error (never ok over a NaN map) with the service's peak RSS within
// 16 MiB (the 12.6 MB frame: its payload + 16 MiB); then 1,024 tricklers fill the connection table and a good
// client must be answered within 5 s.
//
// Usage: hostile_clients PATH_TO_SERVICE [--hostile N] [--reps N]
//   N defaults to 1000 (400 and 2 repetitions under sanitizers, which check memory safety, not latency or RSS;
//   or $SLIMCODEC_HOSTILE_CONNECTIONS). One report line per repetition.
// Diagnosis (docs/service.md): SLIMCODEC_HOSTILE_ONLY=KIND[,KIND...] runs those hostile kinds only, "emfile" the
// descriptor scenario alone, or "guard" the guard scenario alone; SLIMCODEC_HOSTILE_SERVICE_ARGS adds service
// options (e.g. "--io-threads 1"), SLIMCODEC_HOSTILE_IO_THREADS sets them for the descriptor scenario;
// SLIMCODEC_HOSTILE_DEBUG prints when the slow round trips happened and the hostile connections that did not get
// their answer.
#include <slimcodec/codec.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/wire/header_codec.hpp>
#include <slimcodec/wire/reply.hpp>
#include <slimcodec/wire/writer.hpp>

#include "server/test_frames.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace slimcodec;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// ------------------------------ settings

// A sanitizer build (the service is built with the same flags) runs several times slower: its deadlines stretch.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kSlow = 3;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kSlow = 3;
#else
constexpr int kSlow = 1;
#endif
#else
constexpr int kSlow = 1;
#endif
// RSS against the budget and across repetitions is checked in builds without sanitizers only: ASan's shadow
// memory, redzones and quarantine (256 MiB of freed blocks held back) are not the service's. There LeakSanitizer
// checks the service for leaks when it exits.
constexpr bool kCheckRss = kSlow == 1;
// Likewise the latency bound: ASan slows the service's frame path several times more than the good clients' tiny
// frames, and the sanitizer stage is about memory safety, so there the figures are printed, not asserted. For the
// same reason a whole 16 MiB frame may not get through before the frame deadline there: being cut is an answer too.
constexpr bool kCheckLatency = kSlow == 1;
constexpr size_t kBudgetMiB = 256;          // --memory-budget-mb
// The service's RSS once started and idle: its code and libraries (LibTorch alone maps about 150 MiB into a service
// built with it), which the budget does not cover. What the load adds above it must stay under the budget.
double g_idle_rss_mib = 0;
constexpr int kIdleTimeoutMs = 2000;        // --idle-timeout-ms
// --frame-timeout-ms: a whole 16 MiB frame must get through within it while the rest of the load runs (it took up
// to 3.7 s here on a busy machine), while the slowloris connections are cut by it.
constexpr int kFrameTimeoutMs = 8000 * kSlow;
constexpr int kWriteTimeoutMs = 2000;       // --write-timeout-ms
// --send-buffer-bytes: with the system's autotuned send buffer (up to 4 MiB here) a client that never reads gets
// about 68,000 frames answered before its reading pauses; 100 of them would be a CPU flood of 7 million frames
// rather than a test of the bounded outbox and the write deadline.
constexpr int kSendBufferBytes = 16384;
constexpr int kGoodClients = 4;
constexpr int kUnloadedRoundTrips = 150;    // per good client
constexpr milliseconds kGoodPacing{4};      // a good client's pause between round trips (both phases)
constexpr milliseconds kReplyWait{10000};   // a good reply later than this is a failure, not a slow sample
constexpr milliseconds kPhaseDeadline{(kFrameTimeoutMs + 15000) * kSlow};  // every hostile connection resolved by then
// Floor of the latency bound. A loopback round trip is about 0.1-0.5 ms here, and 5x that is below the scheduler's
// noise on a 2-core machine shared with other builds (one 10-50 ms time slice lost to another process is a p99
// sample by itself). 50 ms is still 100x the unloaded figure, and far below the 2-3 s timeouts a hostile client
// could make a good one wait for if it blocked the service.
constexpr double kLatencyFloorMs = 50.0;
constexpr double kLeakMarginMiB = 16.0;     // RSS after the last repetition vs after the second (or first of two)

int g_failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    ++g_failures;
    std::printf("FAIL: %s\n", what.c_str());
    std::fflush(stdout);
  }
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double p99(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = (v.size() * 99 + 99) / 100 - 1;  // ceil(0.99 n) - 1
  return v[std::min(i, v.size() - 1)];
}

// ------------------------------ the service process

struct ProcStatus {
  double rss_mib = 0, hwm_mib = 0;
  bool ok = false;
};

ProcStatus read_status(pid_t pid) {
  ProcStatus s;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", int(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) return s;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long kb = 0;
    if (std::sscanf(line, "VmRSS: %lu kB", &kb) == 1) s.rss_mib = double(kb) / 1024, s.ok = true;
    if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) s.hwm_mib = double(kb) / 1024;
  }
  std::fclose(f);
  return s;
}

struct Service {
  pid_t pid = -1;
  int out = -1;  // the service's stdout
  uint16_t port = 0;
  std::string output;

  // Reads stdout until `pred(output)` or the deadline; false on timeout or EOF.
  template <class Pred>
  bool read_until(Pred pred, milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!pred(output)) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, int(std::min<long long>(left, 200))) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(out, buf, sizeof buf);
      if (n == 0) return pred(output);
      if (n > 0) output.append(buf, size_t(n));
    }
    return true;
  }

  // Starts the service; nofile > 0 sets its soft and hard descriptor limit (before exec).
  bool start(const char* path, std::vector<std::string> args, rlim_t nofile = 0) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    std::vector<char*> argv{const_cast<char*>(path)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {  // only async-signal-safe calls until exec
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      if (nofile > 0) {
        rlimit l{nofile, nofile};
        ::setrlimit(RLIMIT_NOFILE, &l);
      }
      ::execv(path, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out = fds[0];
    // "listening on 127.0.0.1:PORT, ..." (a sanitizer build starts slower)
    if (!read_until([](const std::string& o) { return o.find('\n') != std::string::npos; }, milliseconds(60000)))
      return false;
    const size_t at = output.find("127.0.0.1:");
    if (at == std::string::npos) return false;
    port = uint16_t(std::atoi(output.c_str() + at + 10));
    return port != 0;
  }

  bool alive() const {
    int st = 0;
    return pid > 0 && ::waitpid(pid, &st, WNOHANG) == 0;
  }

  // SIGTERM, then waits (bounded) for the exit; returns the exit status, -1 on a signal or timeout.
  int terminate(milliseconds limit, double* took_ms) {
    const auto t0 = Clock::now();
    ::kill(pid, SIGTERM);
    int st = 0;
    pid_t r = 0;
    while ((r = ::waitpid(pid, &st, WNOHANG)) == 0 && Clock::now() - t0 < limit)
      std::this_thread::sleep_for(milliseconds(10));
    *took_ms = ms_since(t0);
    if (r == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      pid = -1;
      return -1;
    }
    pid = -1;
    read_until([](const std::string& o) { return o.find("shutdown:") != std::string::npos &&
                                                 o.find('\n', o.find("shutdown:")) != std::string::npos; },
               milliseconds(2000));
    ::close(out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  // A count from the summary line: the number before `word` ("12 accept errors").
  long long summary(const std::string& word) const {
    const size_t s = output.find("shutdown:");
    if (s == std::string::npos) return -1;
    const size_t at = output.find(" " + word, s);
    if (at == std::string::npos) return -1;
    size_t b = at;
    while (b > 0 && std::isdigit(static_cast<unsigned char>(output[b - 1]))) --b;
    return b == at ? -1 : std::atoll(output.c_str() + b);
  }
};

// ------------------------------ frames

using test::header_bytes;
using test::header_for;
using GoodFrame = test::TestFrame;

// A frame of N(0, 1) values, seeded by its id (the good clients' and the flood's frames).
GoodFrame make_good_frame(uint32_t id, unsigned bits, uint16_t c, uint16_t h, uint16_t w) {
  return test::make_frame(id, bits, c, h, w, id);
}

// A whole valid frame with random payload bytes (any bytes are a valid raw bit-pack), without the floats.
std::vector<uint8_t> random_frame(uint16_t c, uint16_t h, uint16_t w, uint8_t bits, uint32_t id) {
  const wire::FrameHeader hd = header_for(c, h, w, bits, id);
  std::vector<uint8_t> b(wire::kHeaderSize + hd.payload_size + wire::kTrailerSize);
  std::mt19937 rng(id);
  for (size_t i = wire::kHeaderSize; i < wire::kHeaderSize + hd.payload_size; ++i) b[i] = uint8_t(rng());
  wire::ParserLimits limits;
  limits.max_payload_size = hd.payload_size;
  if (!wire::seal_frame(hd, b.data(), b.size(), limits)) std::abort();
  return b;
}

// ------------------------------ good clients

struct GoodResult {
  std::vector<double> rtt_ms;
  std::vector<double> at_ms;  // when each round trip began, since the client started
  int sent = 0, answered = 0;
  std::string error;
};

// Round trips one frame at a time until `rounds` are done (rounds > 0) or `stop` is set.
void good_client(uint16_t port, int index, int rounds, const std::atomic<bool>* stop, const std::vector<GoodFrame>& frames,
                 GoodResult& out) {
  const auto started = Clock::now();
  device::TcpTransport t;
  if (auto c = t.connect("127.0.0.1", port, milliseconds(10000)); !c) return void(out.error = "connect failed");
  for (int i = 0; rounds > 0 ? i < rounds : !stop->load(); ++i) {
    const GoodFrame& f = frames[size_t(index * 7 + i) % frames.size()];
    const auto t0 = Clock::now();
    ++out.sent;
    if (!t.send_frame(f.bytes.data(), f.bytes.size())) return void(out.error = "send failed");
    auto r = t.receive_reply(kReplyWait);
    if (!r) return void(out.error = std::string("no reply: ") + r.error().what());
    out.rtt_ms.push_back(ms_since(t0));
    out.at_ms.push_back(std::chrono::duration<double, std::milli>(t0 - started).count());
    if (r->status != Errc::ok || r->digest != f.digest)
      return void(out.error = "wrong reply (status " + std::to_string(int(r->status)) + ")");
    ++out.answered;
    std::this_thread::sleep_for(kGoodPacing);
  }
  t.finish_sending();
  t.close();
}

// ------------------------------ hostile connections

enum class Kind { idle, slowloris, non_reader, maximal, large, oversized, garbage, bad_crc, bad_header, churn, count };
const char* kKindNames[] = {"idle",    "slowloris", "non_reader", "maximal",    "large",
                            "oversized", "garbage", "bad_crc",    "bad_header", "churn"};

struct Hostile {
  Kind kind = Kind::idle;
  int fd = -1;
  const std::vector<uint8_t>* data = nullptr;  // bytes to send (shared between connections of a kind)
  size_t sent = 0;
  bool cyclic = false;  // non_reader: send `data` again and again
  Clock::time_point next_trickle{};
  std::vector<uint8_t> in;
  std::vector<Errc> replies;
  bool closed_by_server = false, done = false;
  double closed_ms = 0;  // since the phase began
};

struct HostileReport {
  int per_kind[int(Kind::count)] = {};
  int resolved[int(Kind::count)] = {};
  std::map<int, int> statuses;  // reply status -> count
  long long bytes_sent = 0;
  int unresolved = 0;
  double took_ms = 0;
};

int open_socket(uint16_t port, bool small_receive_buffer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (small_receive_buffer) {
    const int b = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// What resolves a connection of each kind, given the server's replies and whether it closed.
bool resolved_ok(const Hostile& h) {
  auto all = [&](auto pred) {
    return !h.replies.empty() && std::all_of(h.replies.begin(), h.replies.end(), pred);
  };
  switch (h.kind) {
    case Kind::idle:
    case Kind::slowloris:
    case Kind::non_reader: return h.closed_by_server;
    case Kind::maximal:
      if (!kCheckLatency && h.closed_by_server && h.replies.empty()) return true;
      return all([](Errc s) { return s == Errc::overloaded || s == Errc::out_of_memory; });
    case Kind::large:
      return all([](Errc s) { return s == Errc::ok || s == Errc::overloaded || s == Errc::out_of_memory; });
    case Kind::oversized: return h.closed_by_server && all([](Errc s) { return s == Errc::length_too_large; });
    case Kind::bad_crc: return h.closed_by_server && all([](Errc s) { return s == Errc::crc_mismatch; });
    case Kind::garbage:
    case Kind::bad_header: return h.closed_by_server && all([](Errc s) { return s != Errc::ok; });
    case Kind::churn: return true;
    default: return false;
  }
}

// Runs `total` hostile connections against the port until every one is resolved or the deadline passes.
HostileReport run_hostile(uint16_t port, int total, uint32_t seed) {
  HostileReport rep;
  // The attacker runs at the lowest priority: on loopback it shares the service's cores, which an attacker elsewhere
  // would not; what it sends, the service still has to take (Linux: per-thread nice value).
  ::setpriority(PRIO_PROCESS, pid_t(::syscall(SYS_gettid)), 19);
  const auto t0 = Clock::now();
  // Shares of the 1,000: churn 250, idle 200, slowloris 200, non_reader 100, garbage 88, bad_crc 64,
  // oversized 50, bad_header 32, large 8, maximal 8.
  const std::pair<Kind, int> shares[] = {{Kind::idle, 200},     {Kind::slowloris, 200}, {Kind::non_reader, 100},
                                         {Kind::maximal, 8},    {Kind::large, 8},      {Kind::oversized, 50},
                                         {Kind::garbage, 88},   {Kind::bad_crc, 64},    {Kind::bad_header, 32},
                                         {Kind::churn, 250}};
  std::vector<Hostile> hs;
  static const char* only = std::getenv("SLIMCODEC_HOSTILE_ONLY");  // diagnosis: comma-separated kinds to run
  for (auto [k, share] : shares) {
    if (only && !std::strstr(only, kKindNames[int(k)])) continue;
    const int n = std::max(1, share * total / 1000);
    for (int i = 0; i < n; ++i) {
      hs.emplace_back();
      hs.back().kind = k;
    }
  }

  // The bytes each kind sends.
  static const std::vector<uint8_t> maximal = random_frame(8, 4096, 4096, 1, 900001);  // 16 MiB payload
  static const std::vector<uint8_t> large = random_frame(8, 512, 512, 8, 900002);      // 2 MiB payload
  static const std::vector<uint8_t> slow_header = header_bytes(header_for(8, 4096, 4096, 1, 900003));
  static const std::vector<uint8_t> oversized = [] {  // 8 x 4096 x 4096 at 2 bits: 32 MiB, above the 16 MiB limit
    wire::FrameHeader hd = header_for(8, 4096, 4096, 2, 900004);
    return header_bytes(hd);
  }();
  static const std::vector<uint8_t> bad_header = [] {
    wire::FrameHeader hd = header_for(6, 12, 11, 4, 900005);
    hd.channels = 0;
    return header_bytes(hd);
  }();
  static const std::vector<uint8_t> bad_crc = [] {
    std::vector<uint8_t> b = make_good_frame(900006, 4, 6, 12, 11).bytes;
    b.back() ^= 0x5a;
    return b;
  }();
  static const std::vector<uint8_t> stream = [] {  // 4,096 one-value frames, sent round and round
    std::vector<uint8_t> s;
    for (uint32_t i = 0; i < 4096; ++i) {
      const GoodFrame f = make_good_frame(800000 + i, 1, 1, 1, 1);
      s.insert(s.end(), f.bytes.begin(), f.bytes.end());
    }
    return s;
  }();
  std::mt19937 rng(seed);
  std::vector<std::vector<uint8_t>> garbage(8);
  for (auto& g : garbage) {
    g.resize(64 + rng() % 4000);
    for (auto& b : g) b = uint8_t(rng());
  }

  size_t next_churn = 0;
  std::vector<size_t> churn;
  for (size_t i = 0; i < hs.size(); ++i) {
    Hostile& h = hs[i];
    ++rep.per_kind[int(h.kind)];
    switch (h.kind) {
      case Kind::slowloris: h.data = &slow_header; break;
      case Kind::non_reader: h.data = &stream, h.cyclic = true; break;
      case Kind::maximal: h.data = &maximal; break;
      case Kind::large: h.data = &large; break;
      case Kind::oversized: h.data = &oversized; break;
      case Kind::garbage: h.data = &garbage[i % garbage.size()]; break;
      case Kind::bad_crc: h.data = &bad_crc; break;
      case Kind::bad_header: h.data = &bad_header; break;
      default: break;
    }
    if (h.kind == Kind::churn) {
      churn.push_back(i);
      continue;
    }
    h.fd = open_socket(port, h.kind == Kind::non_reader);
    if (h.fd < 0) h.done = true;  // counted unresolved below
  }

  auto finish = [&](Hostile& h, bool by_server) {
    if (h.done) return;
    h.closed_by_server = h.closed_by_server || by_server;
    h.done = true;
    h.closed_ms = ms_since(t0);
    if (h.fd >= 0) ::close(h.fd);
    h.fd = -1;
  };

  std::vector<pollfd> pfds;
  std::vector<size_t> index;
  uint8_t buf[65536];
  while (Clock::now() - t0 < kPhaseDeadline) {
    // Churn: 25 connections every 100 ms (250 in 1 s at the default count), half closed with a reset.
    if (next_churn < churn.size() && ms_since(t0) >= double(next_churn / 25) * 100) {
      for (int k = 0; k < 25 && next_churn < churn.size(); ++k, ++next_churn) {
        Hostile& h = hs[churn[next_churn]];
        const int fd = open_socket(port, false);
        if (fd >= 0 && next_churn % 2) {
          const linger l{1, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        if (fd >= 0) ::close(fd);
        h.done = true;
      }
    }
    pfds.clear();
    index.clear();
    const auto now = Clock::now();
    for (size_t i = 0; i < hs.size(); ++i) {
      Hostile& h = hs[i];
      if (h.done || h.fd < 0) continue;
      short ev = POLLRDHUP;
      if (h.kind != Kind::non_reader) ev |= POLLIN;
      const bool pending = h.data && (h.cyclic || h.sent < h.data->size());
      if (pending && !(h.kind == Kind::slowloris && h.sent >= h.data->size())) ev |= POLLOUT;
      if (h.kind == Kind::slowloris && h.sent >= h.data->size() && now >= h.next_trickle) {
        // one more byte of the 16 MiB payload it announced
        const uint8_t one = 0x55;
        if (::send(h.fd, &one, 1, MSG_NOSIGNAL) == 1) ++rep.bytes_sent;
        h.next_trickle = now + milliseconds(1000);
      }
      pfds.push_back(pollfd{h.fd, ev, 0});
      index.push_back(i);
    }
    if (pfds.empty() && next_churn >= churn.size()) break;
    // At most one pass every 2 ms: the load generator shares the service's cores (an attacker elsewhere would not),
    // and a busy loop over 1,000 descriptors would measure its own CPU use rather than the service's behaviour.
    std::this_thread::sleep_for(milliseconds(2));
    ::poll(pfds.data(), pfds.size(), 10);
    for (size_t j = 0; j < pfds.size(); ++j) {
      Hostile& h = hs[index[j]];
      const short re = pfds[j].revents;
      if (re == 0) continue;
      if ((re & POLLOUT) && h.data) {
        const size_t at = h.cyclic ? h.sent % h.data->size() : h.sent;
        const size_t chunk = std::min<size_t>(h.data->size() - at, 1 << 20);
        const ssize_t k = ::send(h.fd, h.data->data() + at, chunk, MSG_NOSIGNAL);
        if (k > 0) {
          h.sent += size_t(k);
          rep.bytes_sent += k;
          if (h.kind == Kind::slowloris && h.sent >= h.data->size()) h.next_trickle = Clock::now() + milliseconds(1000);
        } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          finish(h, true);  // EPIPE / ECONNRESET: the server closed it
          continue;
        }
      }
      if (h.kind == Kind::non_reader) {
        if (re & (POLLRDHUP | POLLHUP | POLLERR)) finish(h, true);
        continue;
      }
      if (re & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) {
        for (;;) {
          const ssize_t k = ::recv(h.fd, buf, sizeof buf, 0);
          if (k > 0) {
            h.in.insert(h.in.end(), buf, buf + k);
            continue;
          }
          while (h.in.size() >= wire::kReplySize) {
            auto r = wire::parse_reply(h.in.data(), wire::kReplySize);
            h.replies.push_back(r ? r->status : Errc::format_invalid);
            h.in.erase(h.in.begin(), h.in.begin() + long(wire::kReplySize));
          }
          if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) finish(h, true);
          break;
        }
        // A frame the service answered without closing: done once its one frame is answered.
        if (!h.done && (h.kind == Kind::maximal || h.kind == Kind::large) && !h.replies.empty()) finish(h, false);
      }
    }
  }
  static const bool debug = std::getenv("SLIMCODEC_HOSTILE_DEBUG") != nullptr;
  for (auto& h : hs) {
    for (Errc s : h.replies) ++rep.statuses[int(s)];
    if (debug && h.done && !resolved_ok(h))
      std::printf("  %s: sent %zu of %zu, closed by server %d, %zu replies, first status %d, closed at %.0f ms\n",
                  kKindNames[int(h.kind)], h.sent, h.data ? h.data->size() : 0, int(h.closed_by_server),
                  h.replies.size(), h.replies.empty() ? -1 : int(h.replies[0]), h.closed_ms);
    if (!h.done) finish(h, false), ++rep.unresolved;
    else if (resolved_ok(h)) ++rep.resolved[int(h.kind)];
  }
  rep.took_ms = ms_since(t0);
  return rep;
}

// ------------------------------ one repetition

struct RepFigures {
  double p99_unloaded = 0, p99_loaded = 0, rss_before = 0, rss_peak = 0, hwm = 0, rss_after = 0;
  int good_sent = 0, good_answered = 0, loaded_samples = 0;
  bool latency_ok = false;
};

RepFigures repetition(Service& svc, int rep, int hostile, const std::vector<GoodFrame>& frames) {
  RepFigures f;
  f.rss_before = read_status(svc.pid).rss_mib;

  // Unloaded: the good clients alone.
  std::vector<GoodResult> unloaded(kGoodClients);
  {
    std::vector<std::thread> ts;
    for (int i = 0; i < kGoodClients; ++i)
      ts.emplace_back(good_client, svc.port, i, kUnloadedRoundTrips, nullptr, std::cref(frames), std::ref(unloaded[i]));
    for (auto& t : ts) t.join();
  }
  std::vector<double> all;
  for (auto& g : unloaded) {
    check(g.error.empty(), "rep " + std::to_string(rep) + " unloaded good client: " + g.error);
    all.insert(all.end(), g.rtt_ms.begin(), g.rtt_ms.end());
    f.good_sent += g.sent, f.good_answered += g.answered;
  }
  f.p99_unloaded = p99(all);

  // Loaded: the same clients (connected first) while the hostile connections run; RSS sampled meanwhile.
  std::atomic<bool> stop{false};
  std::vector<GoodResult> loaded(kGoodClients);
  std::vector<std::thread> ts;
  for (int i = 0; i < kGoodClients; ++i)
    ts.emplace_back(good_client, svc.port, i + kGoodClients, 0, &stop, std::cref(frames), std::ref(loaded[i]));
  std::atomic<bool> sampling{true};
  double peak = 0;
  std::thread sampler([&] {
    while (sampling) {
      peak = std::max(peak, read_status(svc.pid).rss_mib);
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
  std::this_thread::sleep_for(milliseconds(200));  // the good clients are connected and running
  HostileReport h;
  std::thread attacker([&] { h = run_hostile(svc.port, hostile, uint32_t(rep)); });  // its own thread: its own nice
  attacker.join();
  stop = true;
  for (auto& t : ts) t.join();
  sampling = false;
  sampler.join();
  all.clear();
  for (auto& g : loaded) {
    check(g.error.empty(), "rep " + std::to_string(rep) + " loaded good client: " + g.error);
    all.insert(all.end(), g.rtt_ms.begin(), g.rtt_ms.end());
    f.good_sent += g.sent, f.good_answered += g.answered;
  }
  if (std::getenv("SLIMCODEC_HOSTILE_DEBUG")) {  // when the slow round trips happened, per 500 ms
    std::map<int, int> slow;
    for (auto& g : loaded)
      for (size_t i = 0; i < g.rtt_ms.size(); ++i)
        if (g.rtt_ms[i] > 20) ++slow[int(g.at_ms[i] / 500)];
    for (auto [b, n] : slow) std::printf("  slow (>20 ms) at %d ms: %d\n", b * 500, n);
  }
  f.loaded_samples = int(all.size());
  f.p99_loaded = p99(all);
  f.rss_peak = peak;

  // Checks of this repetition.
  const std::string r = "rep " + std::to_string(rep) + ": ";
  check(f.good_answered == f.good_sent, r + "good frames answered " + std::to_string(f.good_answered) + " of " +
                                            std::to_string(f.good_sent));
  check(f.loaded_samples >= 100, r + "too few loaded round trips: " + std::to_string(f.loaded_samples));
  const double bound = std::max(5 * f.p99_unloaded, f.p99_unloaded + kLatencyFloorMs);
  f.latency_ok = f.p99_loaded <= bound;  // checked by the caller (one retry)
  check(h.unresolved == 0, r + std::to_string(h.unresolved) + " hostile connections unresolved after the deadline");
  std::string kinds;
  for (int k = 0; k < int(Kind::count); ++k) {
    kinds += std::string(k ? " " : "") + kKindNames[k] + " " + std::to_string(h.resolved[k]) + "/" +
             std::to_string(h.per_kind[k]);
    check(h.resolved[k] == h.per_kind[k], r + kKindNames[k] + ": " + std::to_string(h.resolved[k]) + " of " +
                                              std::to_string(h.per_kind[k]) + " got the expected answer");
  }
  std::string statuses;
  for (auto [s, n] : h.statuses) statuses += " " + std::to_string(s) + ":" + std::to_string(n);
  check(svc.alive(), r + "the service is not running");
  // Settle: connections the service closes last (frames decoding when their client left) are gone.
  std::this_thread::sleep_for(milliseconds(1000));
  const ProcStatus after = read_status(svc.pid);
  f.rss_after = after.rss_mib;
  f.hwm = after.hwm_mib;
  f.rss_peak = std::max(f.rss_peak, f.rss_after);
  check(!kCheckRss || f.rss_peak - g_idle_rss_mib < double(kBudgetMiB),
        r + "RSS peak " + std::to_string(f.rss_peak) + " MiB: more than the budget above the idle service");
  check(!kCheckRss || f.hwm - g_idle_rss_mib < double(kBudgetMiB),
        r + "VmHWM " + std::to_string(f.hwm) + " MiB: more than the budget above the idle service");

  std::printf("rep %d: hostile %d in %.1f s (%.0f MiB sent; resolved as expected: %s; reply statuses%s); good replies "
              "%d/%d; p99 unloaded %.2f ms, loaded %.2f ms (%d samples, bound %.1f ms); service RSS before %.1f MiB, "
              "peak %.1f MiB (VmHWM %.1f), after %.1f MiB, budget %zu MiB\n",
              rep, hostile, h.took_ms / 1000, double(h.bytes_sent) / (1 << 20), kinds.c_str(), statuses.c_str(),
              f.good_answered, f.good_sent, f.p99_unloaded, f.p99_loaded, f.loaded_samples, bound, f.rss_before,
              f.rss_peak, f.hwm, f.rss_after, kBudgetMiB);
  std::fflush(stdout);
  return f;
}

// A service whose descriptors run out: accept() fails with EMFILE while `count` idle clients wait; once they are
// gone, a new client is answered.
// Descriptors a process has open (/proc/PID/fd), or -1.
int open_descriptors(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd", int(pid));
  DIR* d = ::opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

void emfile_scenario(const char* path, int count, const std::vector<GoodFrame>& frames) {
  Service svc;
  const rlim_t limit = 128;
  std::vector<std::string> args{"--port", "0", "--idle-timeout-ms", "60000"};
  if (const char* t = std::getenv("SLIMCODEC_HOSTILE_IO_THREADS")) args.insert(args.end(), {"--io-threads", t});
  check(svc.start(path, args, limit), "EMFILE: service did not start");
  if (svc.port == 0) return;
  std::vector<int> fds;
  for (int i = 0; i < count; ++i)
    if (const int fd = open_socket(svc.port, false); fd >= 0) fds.push_back(fd);
  // The service accepts until its descriptors run out, then fails with EMFILE: wait (bounded) until it holds all
  // it may, however slow the build, then a little longer for the failing accept.
  const auto until = Clock::now() + milliseconds(20000 * kSlow);
  while (open_descriptors(svc.pid) < int(limit) - 1 && Clock::now() < until) std::this_thread::sleep_for(milliseconds(20));
  std::this_thread::sleep_for(milliseconds(500));
  for (int fd : fds) ::close(fd);
  std::this_thread::sleep_for(milliseconds(500));
  GoodResult g;
  const auto t0 = Clock::now();
  good_client(svc.port, 0, 5, nullptr, frames, g);
  const double took = ms_since(t0);
  check(g.error.empty() && g.answered == 5, "EMFILE: a new client after the flood was not answered: " + g.error);
  check(svc.alive(), "EMFILE: the service is not running");
  double stop_ms = 0;
  const int rc = svc.terminate(milliseconds(20000), &stop_ms);
  check(rc == 0, "EMFILE: exit status " + std::to_string(rc));
  const long long errors = svc.summary("accept errors");
  check(errors > 0, "EMFILE: no accept error counted (descriptor limit " + std::to_string(limit) + ", " +
                        std::to_string(fds.size()) + " connections)");
  std::printf("emfile: descriptor limit %d, %zu connections: %lld accept errors, then a new client answered 5/5 in "
              "%.0f ms; SIGTERM exit %d in %.0f ms\n",
              int(limit), fds.size(), errors, took, rc, stop_ms);
  std::fflush(stdout);
}

// Validation before allocation, finite answers and slow clients (docs/service.md, "Bounds a client cannot pass"):
// a second service with the native backend (random weights, built for 16 x 16) and no entropy tables. Each small
// frame must be answered with its error while the service's peak RSS (VmHWM) stays within 16 MiB of what it was
// before; then 1,024 tricklers fill the connection table and a good client must get its first reply within 5 s.
struct Asked {
  Errc status = Errc::io_error;
  double ms = 0;
  bool answered = false;
};

Asked ask(uint16_t port, const std::vector<uint8_t>& bytes) {
  Asked a;
  device::TcpTransport t;
  if (!t.connect("127.0.0.1", port, milliseconds(10000))) return a;
  const auto t0 = Clock::now();
  if (!t.send_frame(bytes.data(), bytes.size())) return a;
  auto r = t.receive_reply(milliseconds(20000 * kSlow));
  a.ms = ms_since(t0);
  if (r) a.status = r->status, a.answered = true;
  return a;
}

void guard_scenario(const char* path, int tricklers) {
  Service svc;
  std::vector<std::string> args{"--port", "0", "--workers", "2", "--backend", "native", "--option", "random_seed=1",
                                "--option", "height=16", "--option", "width=16", "--entropy-tables", "none",
                                "--memory-budget-mb", std::to_string(kBudgetMiB)};
  check(svc.start(path, args), "guard: service did not start: " + svc.output);
  if (svc.port == 0) return;
  std::this_thread::sleep_for(milliseconds(200));
  const ProcStatus idle = read_status(svc.pid);
  std::string report = "guard: idle RSS " + std::to_string(int(idle.rss_mib)) + " MiB, VmHWM " +
                       std::to_string(int(idle.hwm_mib)) + " MiB;";
  // Small frames: each answered with `expect`, the peak RSS at most 16 MiB above the idle service's peak.
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    Errc expect;
    double allowance_mib;  // above the idle peak
  };
  wire::FrameHeader big = test::header_for(6, 4096, 4096, 1, 40);
  std::vector<Case> cases;
  for (uint16_t c : {6, 15, 32}) {  // 400 MB, 1 GB and 2 GB of floats before the value cap
    const std::string name = "92-byte codec-1 " + std::to_string(c) + "x4096x4096";
    cases.push_back({name, test::tiny_codec1_frame(c, 4096, 4096, 40u + c), Errc::length_mismatch, 16});
  }
  cases.push_back({"92-byte codec-1 6x40x40, no tables", test::tiny_codec1_frame(6, 40, 40, 44),
                   Errc::entropy_table_mismatch, 16});
  cases.push_back({"6x4096x2 (under the pixel limit)", make_good_frame(45, 1, 6, 4096, 2).bytes,
                   Errc::shape_out_of_range, 16});
  cases.push_back({"bounds +-3e37", test::huge_bounds_frame(6, 16, 16, 46), Errc::output_not_finite, 16});
  // Not small: 12.6 MB of payload, held while it arrives; its 400 MB of floats must never be allocated.
  cases.push_back({"12.6 MB codec-0 6x4096x4096",
                   test::crafted_frame(big, std::vector<uint8_t>(big.payload_size, 0x5A)), Errc::shape_out_of_range,
                   16 + double(big.payload_size) / (1 << 20)});
  for (const Case& c : cases) {
    const Asked a = ask(svc.port, c.bytes);
    const ProcStatus st = read_status(svc.pid);
    const double rise = st.hwm_mib - idle.hwm_mib;
    check(a.answered && a.status == c.expect, "guard: " + c.name + ": status " +
                                                  std::to_string(int(a.status)) + ", expected " +
                                                  std::to_string(int(c.expect)));
    check(!kCheckRss || rise <= c.allowance_mib, "guard: " + c.name + ": peak RSS rose " +
                                                     std::to_string(rise) + " MiB");
    check(a.ms < 1000.0 * kSlow, "guard: " + c.name + ": answered after " + std::to_string(a.ms) + " ms");
    char line[200];
    std::snprintf(line, sizeof line, " %s: status %d in %.1f ms, VmHWM +%.1f MiB;", c.name.c_str(), int(a.status),
                  a.ms, rise);
    report += line;
  }
  // Tricklers: a header, then a byte a second; the table (1,024) is full when the good client comes.
  std::vector<int> fds;
  const auto header = header_bytes(header_for(6, 96, 96, 4));
  for (int i = 0; i < tricklers; ++i) {
    const int fd = open_socket(svc.port, false);
    if (fd < 0) continue;
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(300));  // connected
  for (int fd : fds) (void)::send(fd, header.data(), 40, MSG_NOSIGNAL);  // most of a header
  const auto until = Clock::now() + milliseconds(10000 * kSlow);
  while (open_descriptors(svc.pid) < tricklers && Clock::now() < until) std::this_thread::sleep_for(milliseconds(20));
  std::this_thread::sleep_for(milliseconds(800));  // older than the service's eviction age
  for (int fd : fds) (void)::send(fd, header.data() + 40, 1, MSG_NOSIGNAL);
  const auto t0 = Clock::now();
  const Asked g = ask(svc.port, make_good_frame(47, 4, 6, 16, 16).bytes);  // connect, send, reply
  const double first = ms_since(t0);
  check(g.answered && g.status == Errc::ok, "guard: a good client among " + std::to_string(fds.size()) +
                                                " tricklers was not answered ok: status " +
                                                std::to_string(int(g.status)));
  check(first <= 5000.0 * kSlow, "guard: the good client's first reply took " + std::to_string(first) + " ms");
  for (int fd : fds) ::close(fd);
  check(svc.alive(), "guard: the service is not running");
  double stop_ms = 0;
  const int rc = svc.terminate(milliseconds(20000), &stop_ms);
  check(rc == 0, "guard: exit status " + std::to_string(rc));
  const long long evicted = svc.summary("evicted"), too_slow = svc.summary("too slow");
  check(evicted + too_slow > 0, "guard: no trickler evicted or cut as too slow");
  std::printf("%s %zu tricklers: a good client's first reply in %.0f ms (%lld evicted, %lld cut as too slow); "
              "SIGTERM exit %d\n",
              report.c_str(), fds.size(), first, evicted, too_slow, rc);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: hostile_clients PATH_TO_SERVICE [--hostile N] [--reps N]\n");
    return 2;
  }
  const char* path = argv[1];
  // Under sanitizers fewer connections and repetitions keep the stage's time bounded (the service is 3-10x slower).
  int hostile = kSlow == 1 ? 1000 : 400, reps = kSlow == 1 ? 3 : 2;
  if (const char* e = std::getenv("SLIMCODEC_HOSTILE_CONNECTIONS")) hostile = std::atoi(e);
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--hostile")) hostile = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  if (hostile < 10 || reps < 1) return std::fprintf(stderr, "bad --hostile or --reps\n"), 2;
  ::signal(SIGPIPE, SIG_IGN);

  // 1,000+ sockets here, and the service inherits the limit: soft to hard.
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < rlim_t(hostile) + 64) {
    std::printf("descriptor limit %llu too low for %d connections: run with ulimit -Hn >= %d\n",
                (unsigned long long)nofile.rlim_cur, hostile, hostile + 64);
    return 1;
  }

  std::vector<GoodFrame> frames;  // 6 x 32 x 32 at 2..8 bits: 1.5-6 KB payloads
  for (uint32_t i = 0; i < 16; ++i) frames.push_back(make_good_frame(100 + i, 2 + i % 7, 6, 32, 32));

  const auto t0 = Clock::now();
  if (const char* only = std::getenv("SLIMCODEC_HOSTILE_ONLY"); only && !std::strcmp(only, "emfile")) {
    emfile_scenario(path, 300, frames);  // diagnosis: the descriptor scenario alone
    std::printf("%s in %.1f s\n", g_failures ? "FAILED" : "passed", ms_since(t0) / 1000);
    return g_failures ? 1 : 0;
  }
  if (const char* only = std::getenv("SLIMCODEC_HOSTILE_ONLY"); only && !std::strcmp(only, "guard")) {
    guard_scenario(path, 1024);  // diagnosis: validation, finite answers and tricklers alone
    std::printf("%s in %.1f s\n", g_failures ? "FAILED" : "passed", ms_since(t0) / 1000);
    return g_failures ? 1 : 0;
  }
  Service svc;
  std::vector<std::string> args{"--port", "0", "--workers", "2", "--memory-budget-mb", std::to_string(kBudgetMiB),
                                "--idle-timeout-ms", std::to_string(kIdleTimeoutMs), "--frame-timeout-ms",
                                std::to_string(kFrameTimeoutMs), "--write-timeout-ms", std::to_string(kWriteTimeoutMs),
                                "--send-buffer-bytes", std::to_string(kSendBufferBytes), "--max-connections",
                                std::to_string(hostile + 100), "--shutdown-grace-ms", "5000"};
  if (const char* extra = std::getenv("SLIMCODEC_HOSTILE_SERVICE_ARGS")) {  // diagnosis: e.g. "--io-threads 2"
    std::string word;
    for (const char* c = extra;; ++c) {
      if (*c && !std::isspace(static_cast<unsigned char>(*c))) {
        word += *c;
        continue;
      }
      if (!word.empty()) args.push_back(word), word.clear();
      if (!*c) break;
    }
  }
  check(svc.start(path, args), "service did not start: " + svc.output);
  if (svc.port == 0) return 1;
  std::this_thread::sleep_for(milliseconds(200));
  g_idle_rss_mib = read_status(svc.pid).rss_mib;
  std::printf("idle service RSS %.1f MiB; the load may add up to the budget above it\n", g_idle_rss_mib);
  std::printf("service pid %d on port %u: budget %zu MiB, idle %d ms, frame %d ms, write %d ms; %d hostile + %d good "
              "clients, %d repetitions\n",
              int(svc.pid), svc.port, kBudgetMiB, kIdleTimeoutMs, kFrameTimeoutMs, kWriteTimeoutMs, hostile,
              kGoodClients, reps);
  std::fflush(stdout);

  std::vector<RepFigures> figs;
  // The latency bound gets one retry per repetition: on a machine shared with other builds a burst of their load
  // can take the service's cores for longer than the bound (seen here with another full scripts/test running:
  // one repetition in three at 133 ms). A service that stalls good clients fails both tries. Every other check
  // holds for every try.
  for (int rep = 1; rep <= reps && svc.alive(); ++rep) {
    RepFigures f = repetition(svc, rep, hostile, frames);
    if (!f.latency_ok && kCheckLatency && svc.alive()) {
      std::printf("rep %d: loaded p99 above the bound; once more\n", rep);
      f = repetition(svc, rep, hostile, frames);
    }
    check(f.latency_ok || !kCheckLatency, "rep " + std::to_string(rep) + ": loaded p99 " + std::to_string(f.p99_loaded) +
                            " ms above the bound, twice");
    figs.push_back(f);
  }
  if (figs.size() >= 2) {
    // The first repetition brings the allocator's arenas and thread caches to their working size (the RSS after it
    // varied by 16 MiB between runs on one machine, the growth after it by under 4), so with three or more
    // repetitions the baseline is the second.
    const size_t base = figs.size() >= 3 ? 1 : 0;
    const double growth = figs.back().rss_after - figs[base].rss_after;
    check(!kCheckRss || growth <= kLeakMarginMiB, "RSS grew " + std::to_string(growth) + " MiB from rep " +
                                        std::to_string(base + 1) + " to rep " + std::to_string(figs.size()) +
                                        " (margin " + std::to_string(kLeakMarginMiB) + ")");
    std::printf("leak check: RSS after rep %zu %.1f MiB, after rep %zu %.1f MiB (growth %+.1f MiB, margin %.0f)\n",
                base + 1, figs[base].rss_after, figs.size(), figs.back().rss_after, growth, kLeakMarginMiB);
  }
  const bool alive = svc.alive();
  check(alive, "the service died");
  if (alive) {
    double stop_ms = 0;
    const int rc = svc.terminate(milliseconds(20000), &stop_ms);
    check(rc == 0, "SIGTERM: exit status " + std::to_string(rc) + " after " + std::to_string(stop_ms) + " ms");
    const size_t s = svc.output.find("shutdown:");
    std::printf("SIGTERM: exit %d in %.0f ms; %s", rc, stop_ms,
                s == std::string::npos ? "(no summary)\n" : svc.output.c_str() + s);
    const long long received = svc.summary("frames received"), answered = svc.summary("answered"),
                    unanswered = svc.summary("unanswered");
    check(received > 0 && received == answered + unanswered,
          "summary does not balance: received " + std::to_string(received) + ", answered " + std::to_string(answered) +
              ", unanswered " + std::to_string(unanswered));
  }

  emfile_scenario(path, 300, frames);
  guard_scenario(path, 1024);
  std::printf("%s in %.1f s\n", g_failures ? "FAILED" : "passed", ms_since(t0) / 1000);
  return g_failures ? 1 : 0;
}
