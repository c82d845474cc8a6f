// Persistent worker threads for running ensemble members in parallel. Threads are created once (set-up
// time); each run() only signals and waits, so the frame loop stays free of allocation. create() reports a
// thread that cannot be started (std::system_error, std::bad_alloc from std::thread) as nullptr: nothing throws.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace slimcodec::model {

class MemberPool {
 public:
  using Task = void (*)(void* ctx, int worker);

  // A pool of `workers` threads, or nullptr when memory or a thread cannot be had (the threads already
  // started are stopped and joined first).
  static std::unique_ptr<MemberPool> create(int workers) noexcept {
    std::unique_ptr<MemberPool> pool(new (std::nothrow) MemberPool());
    if (!pool || workers < 0) return nullptr;
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
      pool->threads_.reserve(size_t(workers));
      for (int t = 0; t < workers; ++t) pool->threads_.emplace_back([p = pool.get(), t] { p->loop(t + 1); });
    } catch (...) {  // std::system_error (EAGAIN: no more threads), std::bad_alloc
      return nullptr;  // ~MemberPool stops and joins the threads that did start
    }
#else
    pool->threads_.reserve(size_t(workers));
    for (int t = 0; t < workers; ++t) pool->threads_.emplace_back([p = pool.get(), t] { p->loop(t + 1); });
#endif
    return pool;
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
  MemberPool() = default;

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
