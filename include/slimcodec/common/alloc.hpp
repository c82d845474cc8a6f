// Allocation that reports failure instead of throwing: the server's frame path sizes buffers from what clients
// announce, so an allocation can fail on a valid frame, and that must become Errc::out_of_memory, not an
// exception leaving include/. With exceptions enabled, std::bad_alloc (and std::length_error, which a size above
// max_size() raises) are caught here; built with -fno-exceptions, a failed allocation ends the process as it
// always does there.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace slimcodec {

// Runs f(), which may allocate; false if an allocation in it failed. f's other effects are its own business.
template <class F>
[[nodiscard]] bool try_allocate(F&& f) noexcept {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  try {
    std::forward<F>(f)();
    return true;
  } catch (...) {  // bad_alloc, length_error; nothing else is thrown by the allocations this wraps
    return false;
  }
#else
  std::forward<F>(f)();
  return true;
#endif
}

// v.resize(n); false (v unchanged) when that cannot allocate.
template <class T>
[[nodiscard]] bool try_resize(std::vector<T>& v, size_t n) noexcept {
  return try_allocate([&] { v.resize(n); });
}

// v.assign(first, last); false (v left empty) when that cannot allocate.
template <class T>
[[nodiscard]] bool try_assign(std::vector<T>& v, const T* first, const T* last) noexcept {
  if (try_allocate([&] { v.assign(first, last); })) return true;
  v.clear();
  return false;
}

}  // namespace slimcodec
