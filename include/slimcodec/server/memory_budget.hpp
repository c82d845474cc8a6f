// The decode service's memory budget: bytes a service may hold for frames (buffers, payloads, dequantized floats),
// charged before they are allocated and released after. One class for every transport: the TCP service and the
// MQTT workers charge the same kind of budget, and a program running both can hand them one shared instance.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace slimcodec::server {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit) noexcept : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Charges `bytes`, or nothing and returns false when they do not fit under the limit.
  bool charge(size_t bytes) noexcept {
    size_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > limit_ || used > limit_ - bytes) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    size_t peak = peak_.load(std::memory_order_relaxed);
    while (used + bytes > peak && !peak_.compare_exchange_weak(peak, used + bytes, std::memory_order_relaxed)) {
    }
    return true;
  }
  void release(size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  size_t limit() const noexcept { return limit_; }
  size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
  std::atomic<size_t> peak_{0};
};

}  // namespace slimcodec::server
