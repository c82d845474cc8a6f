// The kernel's traffic control as the emulated link, instead of the in-process LinkShaper: the decode service
// listens inside a network namespace reached through a veth pair, the host end of which has a token-bucket filter
// (tc tbf); a thread re-rates the filter at every row of the trace. Frames then cross the real TCP/IP stack with
// its own queueing. Needs root (CAP_NET_ADMIN) and iproute2 (`ip`, `tc`); create() says why when the machine does
// not allow it. Linux only; a tool-side helper, not part of the library (it runs programs). A demo killed before
// its destructor runs leaves the namespace `slimcodec-<pid>` behind: `ip netns delete` removes it.
#pragma once

#include <emulation/link_trace.hpp>
#include <slimcodec/common/result.hpp>

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace slimcodec::emulation {

class TcLink {
 public:
  using Clock = std::chrono::steady_clock;

  // Namespace and veth names derive from the process id, so two demos on one machine do not collide.
  static Result<std::unique_ptr<TcLink>> create(LinkTrace trace) {
    std::unique_ptr<TcLink> link(new TcLink(std::move(trace)));
    if (auto r = link->set_up(); !r) return r.error();
    link->rater_ = std::thread([l = link.get()] { l->follow_trace(); });
    return link;
  }

  ~TcLink() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (rater_.joinable()) rater_.join();
    if (created_) run({"ip", "netns", "delete", ns_});  // also removes both veth ends
  }

  const std::string& service_address() const { return ns_ip_; }  // inside the namespace: bind the service here
  const std::string& interface() const { return host_if_; }

  // Runs f with the calling thread inside the namespace; sockets created there stay there. The error says when
  // the thread could not enter or leave it.
  template <class F>
  Result<void> in_namespace(F&& f) {
    const int target = ::open(("/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
    const int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (target < 0 || home < 0 || ::setns(target, CLONE_NEWNET) != 0) {
      if (target >= 0) ::close(target);
      if (home >= 0) ::close(home);
      return Error{Errc::io_error, "tc link: cannot enter the network namespace"};
    }
    f();
    const bool back = ::setns(home, CLONE_NEWNET) == 0;
    ::close(target);
    ::close(home);
    if (!back) return Error{Errc::io_error, "tc link: cannot leave the network namespace"};
    return {};
  }

  // Trace time 0 is now (the filter takes the first row's rate at once).
  void restart_trace() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      epoch_ = Clock::now();
      ++generation_;
    }
    wake_.notify_all();
  }
  Clock::time_point trace_epoch() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return epoch_;
  }
  size_t rate_changes() const { return changes_.load(); }
  size_t failed_changes() const { return failures_.load(); }

 private:
  explicit TcLink(LinkTrace trace) : trace_(std::move(trace)) {
    const unsigned id = unsigned(::getpid());
    ns_ = "slimcodec-" + std::to_string(id);
    host_if_ = "scl" + std::to_string(id % 100000) + "h";
    ns_if_ = "scl" + std::to_string(id % 100000) + "n";
    const std::string net = "10.213." + std::to_string(id % 250) + ".";
    host_ip_ = net + "1";
    ns_ip_ = net + "2";
    epoch_ = Clock::now();
  }

  // Runs a program without a shell; true when it exits 0. Its stderr stays visible (why a step failed).
  static bool run(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return false;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  // tbf arguments for `bytes_per_s` held for `hold_s` seconds. The bucket holds one packet (1,514 bytes on the
  // veth, plus slack), so a new rate applies at once. Each change refills the bucket, which would add a bucket per
  // row to what a backlogged link delivers (about 16 kB/s at 10 rows a second): the rate is lowered by that much.
  // The queue holds 10 s of data, so a stall delays frames (as a radio link does) instead of dropping packets. tbf
  // has no rate 0: a trace's 0 becomes 1 kbit/s, a stall for any frame.
  static constexpr double kBurstBytes = 1600;
  static std::vector<std::string> tbf(double bytes_per_s, double hold_s) {
    const double refill = kBurstBytes / std::max(hold_s, 0.1);
    const double bits = std::max(1000.0, 8.0 * (bytes_per_s - refill));
    return {"rate", std::to_string(size_t(bits)) + "bit", "burst", std::to_string(size_t(kBurstBytes)), "latency",
            "10s"};
  }

  Result<void> set_up() {
    // Error details are static strings: name the step, and what it needs.
    auto step = [&](std::vector<std::string> argv, const char* failure) -> Result<void> {
      if (run(argv)) return {};
      return Error{Errc::io_error, failure};
    };
    if (auto r = step({"ip", "netns", "add", ns_},
                      "tc link: `ip netns add` failed (needs root with CAP_NET_ADMIN and iproute2)");
        !r)
      return r;
    created_ = true;
    const std::string host_cidr = host_ip_ + "/30", ns_cidr = ns_ip_ + "/30";
    const char* veth_failed = "tc link: setting up the veth pair failed (needs the kernel's veth driver)";
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", host_if_, "type", "veth", "peer", "name", ns_if_, "netns", ns_},
             {"ip", "addr", "add", host_cidr, "dev", host_if_},
             {"ip", "link", "set", host_if_, "up"},
             {"ip", "-n", ns_, "addr", "add", ns_cidr, "dev", ns_if_},
             {"ip", "-n", ns_, "link", "set", ns_if_, "up"},
             {"ip", "-n", ns_, "link", "set", "lo", "up"}})
      if (auto r = step(argv, veth_failed); !r) return r;
    std::vector<std::string> add = {"tc", "qdisc", "add", "dev", host_if_, "root", "tbf"};
    for (std::string& a : tbf(trace_.rate_at(0), 1.0)) add.push_back(std::move(a));
    return step(add, "tc link: `tc qdisc add ... tbf` failed (needs the kernel's tbf qdisc)");
  }

  // Waits for each row's time on the trace clock and applies its rate; restart_trace() starts over.
  void follow_trace() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      const uint64_t generation = generation_;
      const Clock::time_point epoch = epoch_;
      const std::vector<emulation::TracePoint>& rows = trace_.points();
      for (size_t i = 0; i < rows.size(); ++i) {
        const emulation::TracePoint& p = rows[i];
        const double hold_s = i + 1 < rows.size() ? rows[i + 1].time_s - p.time_s : 1.0;
        const auto at = epoch + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p.time_s));
        if (wake_.wait_until(lock, at, [&] { return stop_ || generation_ != generation; })) break;
        lock.unlock();
        std::vector<std::string> change = {"tc", "qdisc", "change", "dev", host_if_, "root", "tbf"};
        for (std::string& a : tbf(p.bytes_per_s, hold_s)) change.push_back(std::move(a));
        (run(change) ? changes_ : failures_).fetch_add(1);
        lock.lock();
      }
      // The trace ended (or restarted): wait for the next restart.
      wake_.wait(lock, [&] { return stop_ || generation_ != generation; });
    }
  }

  LinkTrace trace_;
  std::string ns_, host_if_, ns_if_, host_ip_, ns_ip_;
  bool created_ = false;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Clock::time_point epoch_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::atomic<size_t> changes_{0}, failures_{0};
  std::thread rater_;
};

}  // namespace slimcodec::emulation
