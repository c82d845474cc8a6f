// Helpers for the MQTT tests: a private mosquitto broker on a free loopback port (its config in a temp dir, killed at
// the end), a child process with its output in a file, and test frames with the digest the identity backend returns.
#pragma once

#include <slimcodec/codec.hpp>
#include <slimcodec/device/mqtt_device_client.hpp>
#include <slimcodec/wire/reply.hpp>

#include <catch2/catch.hpp>

#include "server/test_frames.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace mqtt_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#ifndef SLIMCODEC_MOSQUITTO_BROKER
#define SLIMCODEC_MOSQUITTO_BROKER "/usr/sbin/mosquitto"
#endif

// The broker binary: $SLIMCODEC_MOSQUITTO if set, else what CMake found (default /usr/sbin/mosquitto).
inline std::string broker_path() {
  const char* env = std::getenv("SLIMCODEC_MOSQUITTO");
  return env && *env ? env : SLIMCODEC_MOSQUITTO_BROKER;
}

inline bool broker_available() { return ::access(broker_path().c_str(), X_OK) == 0; }

// Ends the running test case with a warning where the broker is not installed (a skip, not a failure).
#define MQTT_TEST_SKIP_WITHOUT_BROKER()                                                                      \
  do {                                                                                                       \
    if (!mqtt_test::broker_available()) {                                                                    \
      WARN("skipped: no mosquitto broker at " << mqtt_test::broker_path()                                    \
                                               << " (Debian: apt-get install mosquitto)");                   \
      return;                                                                                                \
    }                                                                                                        \
  } while (0)

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A port nobody listens on right now (the kernel's pick for port 0). Another process may still take it before
// the broker binds it; Broker retries on a fresh port then.
inline uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  REQUIRE(ok);
  return ntohs(a.sin_port);
}

inline bool port_accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process whose stdout and stderr go to one file. Killed (SIGKILL) if still running at destruction.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, std::string log_path) : log_(std::move(log_path)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      (void)wait(10s);
    }
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_; }
  void signal(int sig) const {
    if (running()) ::kill(pid_, sig);
  }
  std::string output() const { return read_file(log_); }

  // Polls the log until `needle` appears; false when the process exits first or time runs out.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      if (output().find(needle) != std::string::npos) return true;
      if (poll_exit()) return output().find(needle) != std::string::npos;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // The exit code (>= 0) or minus the terminating signal; nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    while (!poll_exit() && Clock::now() < end) std::this_thread::sleep_for(5ms);
    return status_;
  }

 private:
  bool poll_exit() {
    if (pid_ <= 0 || status_) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return true;
  }

  std::string log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A temp directory removed (with its files) at the end.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/slimcodec-mqtt-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A private mosquitto on 127.0.0.1, config written to a temp dir: listener + allow_anonymous, then `extra_config`.
class Broker {
 public:
  explicit Broker(const std::string& extra_config = "") {
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_loopback_port();
      const std::string conf = dir_.file("mosquitto.conf");
      std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n" << extra_config;
      auto p = std::make_unique<ChildProcess>(std::vector<std::string>{broker_path(), "-c", conf},
                                              dir_.file("mosquitto.log"));
      REQUIRE(p->started());
      const auto end = Clock::now() + 5s;
      while (Clock::now() < end && p->running() && !port_accepts(port_)) std::this_thread::sleep_for(10ms);
      if (p->running() && port_accepts(port_)) process_ = std::move(p);  // else the port was taken: try another
    }
    INFO("mosquitto log: " << read_file(dir_.file("mosquitto.log")));
    REQUIRE(process_);
  }
  ~Broker() {
    if (!process_) return;
    process_->signal(SIGTERM);
    if (!process_->wait(5s)) process_->signal(SIGKILL);
  }
  uint16_t port() const { return port_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

using slimcodec::test::TestFrame;

// N(0, 1) values seeded by the id and the bit width.
inline TestFrame make_frame(uint32_t id, unsigned bits, uint16_t c, uint16_t h, uint16_t w) {
  return slimcodec::test::make_frame(id, bits, c, h, w, id * 2654435761u + bits);
}

// Mostly small frames of every bit width, every 16th one the paper's 6x96x96 bottleneck at 4 bits (27,648 B).
inline TestFrame make_mixed_frame(uint32_t id) {
  if (id % 16 == 0) return make_frame(id, 4, 6, 96, 96);
  return make_frame(id, 1 + id % 8, 6, 12, 11);
}

// What one device saw. Filled without Catch assertions, so devices can run on their own threads.
struct DeviceTally {
  std::map<uint32_t, int> times_seen;  // frame id -> replies handed out by the device client
  size_t answered = 0;                 // distinct frames answered
  int wrong = 0;                       // unknown id, status not ok, wrong digest, timestamp or shape
  int gave_up = 0;
  int needed_republish = 0;  // frames whose reply came after more than one publish
  std::string first_problem;
  bool complete(size_t frames) const { return answered == frames && wrong == 0 && gave_up == 0 && exactly_once(); }
  bool exactly_once() const {
    for (const auto& [id, n] : times_seen)
      if (n != 1) return false;
    return true;
  }
};

// Publishes `frames` through `device`, at most `window` unanswered at a time, and checks every reply against the
// identity backend's digest. `between` runs after each poll (tests use it to stop or kill workers mid-run). Ends when
// all frames are answered (then listens 200 ms more for any reply handed out twice) or at `time_limit`.
inline DeviceTally drive_device(slimcodec::device::MqttDeviceClient& device, const std::vector<TestFrame>& frames,
                                size_t window, std::chrono::milliseconds time_limit,
                                const std::function<void(const DeviceTally&)>& between = {}) {
  DeviceTally t;
  std::map<uint32_t, const TestFrame*> by_id;
  for (const auto& f : frames) by_id[slimcodec::load_le32(f.bytes.data() + slimcodec::wire::offset::kFrameId)] = &f;
  auto note = [&](const std::string& what) {
    ++t.wrong;
    if (t.first_problem.empty()) t.first_problem = what;
  };
  auto record = [&](const slimcodec::device::DeviceReply& d) {
    const auto& r = d.reply;
    if (d.gave_up) return void(++t.gave_up);
    auto it = by_id.find(r.frame_id);
    if (it == by_id.end()) return note("reply for an unknown frame id " + std::to_string(r.frame_id));
    if (++t.times_seen[r.frame_id] == 1) ++t.answered;
    if (d.attempts > 1) ++t.needed_republish;
    if (r.status != slimcodec::Errc::ok) return note("frame " + std::to_string(r.frame_id) + ": status " + slimcodec::message(r.status));
    if (r.digest != it->second->digest || r.timestamp_us != 1000u + r.frame_id || r.out_channels != 6)
      note("frame " + std::to_string(r.frame_id) + ": wrong digest, timestamp or shape");
  };
  const auto end = Clock::now() + time_limit;
  size_t next = 0;
  while (t.answered + size_t(t.gave_up) < frames.size() && Clock::now() < end) {
    while (next < frames.size() && device.pending() < window) {
      auto sent = device.publish(frames[next].bytes.data(), frames[next].bytes.size());
      if (!sent) {
        note(std::string("publish failed: ") + sent.error().what());
        return t;
      }
      ++next;
    }
    // Take every reply already in, so that `between` sees the real progress even when replies come in bursts.
    for (auto wait = std::chrono::milliseconds(20);; wait = 0ms) {
      auto got = device.receive(wait);
      if (!got) {
        note(std::string("receive failed: ") + got.error().what());
        return t;
      }
      if (!*got) break;
      record(**got);
    }
    if (between) between(t);
  }
  for (auto extra = device.receive(200ms); extra && *extra; extra = device.receive(200ms)) record(**extra);
  return t;
}

inline slimcodec::device::MqttDeviceOptions device_options(uint16_t port, const std::string& id,
                                                          std::chrono::milliseconds reply_timeout) {
  slimcodec::device::MqttDeviceOptions o;
  o.port = port;
  o.device_id = id;
  o.reply_timeout = reply_timeout;
  o.max_attempts = 0;  // tests wait for every frame: never give up
  o.max_pending = 256;
  return o;
}

}  // namespace mqtt_test
