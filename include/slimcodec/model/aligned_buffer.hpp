// A 64-byte aligned, owning byte buffer allocated without exceptions (null on failure).
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace slimcodec::model {

class AlignedBuffer {
 public:
  static constexpr std::align_val_t kAlign{64};

  AlignedBuffer() noexcept = default;
  explicit AlignedBuffer(size_t bytes) noexcept
      : data_(bytes ? static_cast<std::byte*>(::operator new(bytes, kAlign, std::nothrow)) : nullptr),
        size_(data_ ? bytes : 0) {}
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  std::byte* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  void release() noexcept {
    if (data_) ::operator delete(data_, kAlign);
    data_ = nullptr;
    size_ = 0;
  }
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace slimcodec::model
