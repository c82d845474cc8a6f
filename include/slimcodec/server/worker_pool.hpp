// A fixed pool of decode threads, each owning its own DecoderBackend instance (backends are not thread-safe)
// and its own scratch buffer. Transports submit tasks; stop() lets the tasks already running finish, drops those
// still queued (a transport answers or cuts its connections before stopping the pool, so queued work at that
// point belongs to clients that are gone or out of time) and joins: SIGTERM ends promptly.
#pragma once

#include <slimcodec/common/alloc.hpp>
#include <slimcodec/server/registry.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace slimcodec::server {

class WorkerPool {
 public:
  using Task = std::function<void(DecoderBackend& backend, std::vector<float>& scratch)>;

  static Result<std::unique_ptr<WorkerPool>> create(size_t workers, const std::string& backend,
                                                    const BackendOptions& options) {
    if (workers == 0) return Error{Errc::invalid_argument, "worker count must be at least 1"};
    std::unique_ptr<WorkerPool> pool(new WorkerPool());
    for (size_t i = 0; i < workers; ++i) {
      auto b = BackendRegistry::global().create(backend, options);
      if (!b) return b.error();
      pool->backends_.push_back(std::move(*b));
    }
    bool started = try_allocate([&] {
      pool->threads_.reserve(workers);
      for (size_t i = 0; i < workers; ++i) pool->threads_.emplace_back([p = pool.get(), i] { p->loop(i); });
    });
    if (!started) return Error{Errc::out_of_memory, "cannot start the decode threads"};  // ~WorkerPool joins
    return pool;
  }

  ~WorkerPool() { stop(); }

  // Queues a task; false (task not queued) when memory for it cannot be had or the pool is stopping.
  [[nodiscard]] bool submit(Task task) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return false;
      if (!try_allocate([&] { tasks_.push_back(std::move(task)); })) return false;
    }
    wake_.notify_one();
    return true;
  }

  // Finishes the tasks that are running, drops (destroys unrun) the ones still queued, joins the threads and
  // returns how many it dropped. Idempotent (a second call returns 0).
  size_t stop() noexcept {
    std::deque<Task> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      dropped.swap(tasks_);
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    return dropped.size();  // destroyed here, outside the lock: a task may own the last reference to a connection
  }

  bool stopping() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
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
        if (stopping_) return;  // queued tasks are dropped by stop()
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task(*backends_[index], scratch);
    }
  }

  std::vector<std::unique_ptr<DecoderBackend>> backends_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
};

}  // namespace slimcodec::server
