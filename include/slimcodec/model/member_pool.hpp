// Persistent worker threads for running ensemble members in parallel. Threads are created once (set-up
// time); each run() only signals and waits, so the frame loop stays free of allocation.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace slimcodec::model {

class MemberPool {
 public:
  using Task = void (*)(void* ctx, int worker);

  explicit MemberPool(int workers) {
    threads_.reserve(size_t(workers));
    for (int t = 0; t < workers; ++t) threads_.emplace_back([this, t] { loop(t + 1); });
  }
  ~MemberPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  MemberPool(const MemberPool&) = delete;
  MemberPool& operator=(const MemberPool&) = delete;

  int workers() const noexcept { return int(threads_.size()); }

  // Runs task(ctx, 0) on the calling thread and task(ctx, t) on worker t = 1..workers(), returns when all end.
  void run(Task task, void* ctx) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = task;
      ctx_ = ctx;
      pending_ = int(threads_.size());
      ++generation_;
    }
    wake_.notify_all();
    task(ctx, 0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void loop(int worker) {
    uint64_t seen = 0;
    for (;;) {
      Task task;
      void* ctx;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        task = task_;
        ctx = ctx_;
      }
      task(ctx, worker);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --pending_;
      }
      done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace slimcodec::model
