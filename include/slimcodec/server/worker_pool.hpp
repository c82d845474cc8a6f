// A fixed pool of decode threads, each owning its own DecoderBackend instance (backends are not thread-safe)
// and its own scratch buffer. Transports submit tasks; stop() lets the tasks already running finish, drops those
// still queued (a transport answers or cuts its connections before stopping the pool, so queued work at that
// point belongs to clients that are gone or out of time) and joins: SIGTERM ends promptly.
#pragma once

#include <slimcodec/common/alloc.hpp>
#include <slimcodec/server/registry.hpp>

#include <condition_variable>
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

class WorkerPool {
 public:
  using Task = PoolTask;

  // Backends come from `registry` (the global one by default).
  static Result<std::unique_ptr<WorkerPool>> create(size_t workers, const std::string& backend,
                                                    const BackendOptions& options,
                                                    const BackendRegistry& registry = BackendRegistry::global()) {
    if (workers == 0) return Error{Errc::invalid_argument, "worker count must be at least 1"};
    std::unique_ptr<WorkerPool> pool(new WorkerPool());
    for (size_t i = 0; i < workers; ++i) {
      auto b = registry.create(backend, options);
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
    if (!task) return false;  // its callable could not be allocated
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return false;
      if (count_ == ring_.size() && !grow()) return false;
      ring_[(head_ + count_) % ring_.size()] = std::move(task);
      ++count_;
    }
    wake_.notify_one();
    return true;
  }

  // Finishes the tasks that are running, drops (destroys unrun) the ones still queued, joins the threads and
  // returns how many it dropped. Idempotent (a second call returns 0).
  size_t stop() noexcept {
    std::vector<Task> dropped;
    size_t count = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      dropped.swap(ring_);
      count = count_;
      head_ = count_ = 0;
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    return count;  // destroyed here, outside the lock: a task may own the last reference to a connection
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
        wake_.wait(lock, [&] { return stopping_ || count_ > 0; });
        if (stopping_) return;  // queued tasks are dropped by stop()
        task = std::move(ring_[head_]);
        head_ = (head_ + 1) % ring_.size();
        --count_;
      }
      task(*backends_[index], scratch);
    }
  }

  std::vector<std::unique_ptr<DecoderBackend>> backends_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  // Queued tasks: a ring of ring_.size() slots from head_, count_ in use. It grows (doubling) when full and keeps
  // its size, so in the steady state queuing allocates nothing.
  bool grow() noexcept {
    std::vector<Task> bigger;
    if (!try_allocate([&] { bigger.resize(ring_.empty() ? 16 : 2 * ring_.size()); })) return false;
    for (size_t i = 0; i < count_; ++i) bigger[i] = std::move(ring_[(head_ + i) % ring_.size()]);
    ring_.swap(bigger);
    head_ = 0;
    return true;
  }

  std::vector<Task> ring_;
  size_t head_ = 0, count_ = 0;
  bool stopping_ = false;
};

}  // namespace slimcodec::server
