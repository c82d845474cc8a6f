// A fixed pool of decode threads, each owning its own DecoderBackend instance (backends are not thread-safe)
// and its own scratch buffer. Transports submit tasks; stop() finishes every queued task before joining.
#pragma once

#include <slimcodec/decode/registry.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace slimcodec::serve {

class WorkerPool {
 public:
  using Task = std::function<void(decode::DecoderBackend& backend, std::vector<float>& scratch)>;

  static Result<std::unique_ptr<WorkerPool>> create(size_t workers, const std::string& backend,
                                                    const decode::BackendOptions& options) {
    if (workers == 0) return Error{Errc::invalid_argument, "worker count must be at least 1"};
    std::unique_ptr<WorkerPool> pool(new WorkerPool());
    for (size_t i = 0; i < workers; ++i) {
      auto b = decode::BackendRegistry::global().create(backend, options);
      if (!b) return b.error();
      pool->backends_.push_back(std::move(*b));
    }
    for (size_t i = 0; i < workers; ++i) pool->threads_.emplace_back([p = pool.get(), i] { p->loop(i); });
    return pool;
  }

  ~WorkerPool() { stop(); }

  void submit(Task task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

  // Runs every task already queued, then joins the threads. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  size_t size() const { return backends_.size(); }

 private:
  WorkerPool() = default;

  void loop(size_t index) {
    std::vector<float> scratch;
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping and drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task(*backends_[index], scratch);
    }
  }

  std::vector<std::unique_ptr<decode::DecoderBackend>> backends_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
};

}  // namespace slimcodec::serve
