// A fixed pool of decode threads, each owning its own DecoderBackend instance (backends are not thread-safe)
// and its own scratch buffer. Transports submit tasks; stop() lets the tasks already running finish, drops those
// still queued (a transport answers or cuts its connections before stopping the pool, so queued work at that
// point belongs to clients that are gone or out of time) and joins: SIGTERM ends promptly.
#pragma once

#include "slimcodec/common/alloc.hpp"
#include "slimcodec/server/registry.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace slimcodec::server {

// A unit of work for the pool: any callable taking (DecoderBackend&, std::vector<float>& scratch), move-only (it may
// own a frame's buffer). Stored in place up to kInline bytes, so queuing a frame does not allocate; a larger
// callable goes to the heap (new (std::nothrow)), and a Task whose allocation failed is empty (submit refuses it).
class PoolTask {
 public:
  static constexpr size_t kInline = 128;
  PoolTask() noexcept = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, PoolTask>>>
  PoolTask(F&& f) noexcept(std::is_nothrow_move_constructible_v<std::decay_t<F>>) {  // NOLINT: implicit, like std::function
    using T = std::decay_t<F>;
    if constexpr (sizeof(T) <= kInline && alignof(T) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<T>) {
      new (storage_) T(std::forward<F>(f));
      ops_ = &inline_ops<T>;
    } else {
      T* heap = new (std::nothrow) T(std::forward<F>(f));
      if (heap == nullptr) return;
      *reinterpret_cast<T**>(storage_) = heap;
      ops_ = &heap_ops<T>;
    }
  }
  PoolTask(PoolTask&& o) noexcept { take(o); }
  PoolTask& operator=(PoolTask&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  PoolTask(const PoolTask&) = delete;
  PoolTask& operator=(const PoolTask&) = delete;
  ~PoolTask() { reset(); }
  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()(DecoderBackend& backend, std::vector<float>& scratch) { ops_->call(storage_, backend, scratch); }

 private:
  struct Ops {
    void (*call)(void*, DecoderBackend&, std::vector<float>&);
    void (*move)(void* from, void* to) noexcept;  // move-constructs into `to` and destroys `from`
    void (*destroy)(void*) noexcept;
  };
  template <class T>
  static constexpr Ops inline_ops{
      [](void* p, DecoderBackend& b, std::vector<float>& s) { (*static_cast<T*>(p))(b, s); },
      [](void* from, void* to) noexcept {
        new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
      },
      [](void* p) noexcept { static_cast<T*>(p)->~T(); }};
  template <class T>
  static constexpr Ops heap_ops{
      [](void* p, DecoderBackend& b, std::vector<float>& s) { (**static_cast<T**>(p))(b, s); },
      [](void* from, void* to) noexcept { *static_cast<T**>(to) = *static_cast<T**>(from); },
      [](void* p) noexcept { delete *static_cast<T**>(p); }};

  void take(PoolTask& o) noexcept {
    if (o.ops_) o.ops_->move(o.storage_, storage_);
    ops_ = o.ops_;
    o.ops_ = nullptr;
  }
  void reset() noexcept {
    if (ops_) ops_->destroy(storage_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[kInline];
  const Ops* ops_ = nullptr;
};

// Where a task goes in the queue. Tasks run in order of `rank`, then of arrival: a transport passes how many tasks
// the same client already has queued or running, so each client's next frame comes before anyone's frame after it,
// and a client flooding the service waits behind its own frames rather than making others wait. A `heavy`
// task (a large frame) keeps its place in that order but runs on at most workers - 1 threads at once when there are
// two or more, so that small frames always have a thread.
struct TaskOrder {
  size_t rank = 0;
  bool heavy = false;
};

class WorkerPool {
 public:
  using Task = PoolTask;

  // Backends come from `registry`, which is used only here: each worker's backend is created before this returns.
  static Result<std::unique_ptr<WorkerPool>> create(size_t workers, const std::string& backend,
                                                    const BackendOptions& options, const BackendRegistry& registry) {
    if (workers == 0) return Error{Errc::invalid_argument, "worker count must be at least 1"};
    std::unique_ptr<WorkerPool> pool(new WorkerPool());
    for (size_t i = 0; i < workers; ++i) {
      auto b = registry.create(backend, options);
      if (!b) return b.error();
      pool->backends_.push_back(std::move(*b));
    }
    pool->accepted_ = pool->backends_.front()->accepted();
    pool->heavy_limit_ = workers > 1 ? workers - 1 : 1;
    bool started = try_allocate([&] {
      pool->threads_.reserve(workers);
      for (size_t i = 0; i < workers; ++i) pool->threads_.emplace_back([p = pool.get(), i] { p->loop(i); });
    });
    if (!started) return Error{Errc::out_of_memory, "cannot start the decode threads"};  // ~WorkerPool joins
    return pool;
  }

  ~WorkerPool() { stop(); }

  // Queues a task; false (task not queued) when memory for it cannot be had or the pool is stopping.
  [[nodiscard]] bool submit(Task task, TaskOrder order = {}) noexcept {
    if (!task) return false;  // its callable could not be allocated
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return false;
      Queue& q = order.heavy ? heavy_ : light_;
      if (q.size() == q.capacity() && !try_allocate([&] { q.reserve(q.empty() ? 16 : 2 * q.size()); })) return false;
      const uint64_t rank = order.rank < kMaxRank ? order.rank : kMaxRank;
      q.push_back(Entry{(rank << kSeqBits) | (next_seq_++ & kSeqMask), std::move(task)});
      std::push_heap(q.begin(), q.end(), later);
    }
    wake_.notify_one();  // every idle thread can run it: the heavy limit is the same for each
    return true;
  }

  // Finishes the tasks that are running, drops (destroys unrun) the ones still queued, joins the threads and
  // returns how many it dropped. Idempotent (a second call returns 0).
  size_t stop() noexcept {
    Queue light, heavy;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      light.swap(light_);
      heavy.swap(heavy_);
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    return light.size() + heavy.size();  // destroyed here, outside the lock: a task may own a connection's last reference
  }

  bool stopping() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
  }

  size_t size() const { return backends_.size(); }
  // The shapes the pool's backends accept (all are created with the same options; accepted() is fixed at creation).
  ShapeLimits accepted() const { return accepted_; }

 private:
  WorkerPool() = default;

  struct Entry {
    uint64_t key;  // rank, then arrival
    Task task;
  };
  using Queue = std::vector<Entry>;  // a binary heap, earliest key first; keeps its capacity
  static constexpr int kSeqBits = 40;
  static constexpr uint64_t kSeqMask = (uint64_t(1) << kSeqBits) - 1, kMaxRank = (uint64_t(1) << 23) - 1;
  static bool later(const Entry& a, const Entry& b) noexcept { return a.key > b.key; }

  static Task pop(Queue& q) noexcept {
    std::pop_heap(q.begin(), q.end(), later);
    Task t = std::move(q.back().task);
    q.pop_back();
    return t;
  }

  void loop(size_t index) {
    std::vector<float> scratch;
    for (;;) {
      Task task;
      bool heavy = false;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !light_.empty() || (!heavy_.empty() && heavy_running_ < heavy_limit_); });
        if (stopping_) return;  // queued tasks are dropped by stop()
        // The earliest task, unless it is heavy and the heavy tasks' threads are all taken.
        heavy = !heavy_.empty() && heavy_running_ < heavy_limit_ &&
                (light_.empty() || heavy_.front().key < light_.front().key);
        task = pop(heavy ? heavy_ : light_);
        heavy_running_ += heavy;
      }
      task(*backends_[index], scratch);
      if (heavy) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          --heavy_running_;
        }
        wake_.notify_all();
      }
    }
  }

  std::vector<std::unique_ptr<DecoderBackend>> backends_;
  ShapeLimits accepted_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Queue light_, heavy_;
  uint64_t next_seq_ = 0;
  size_t heavy_running_ = 0, heavy_limit_ = 1;
  bool stopping_ = false;
};

}  // namespace slimcodec::server
