// Weight binding for layer specs: tensor names built in a fixed buffer (no heap), and one helper that asks a
// Source for a tensor of an exact shape and copies it. A Source is any type with
//   Result<const float*> tensor_f32(std::string_view name, const int64_t* shape, size_t rank) const;
//   size_t count_with_prefix(std::string_view prefix) const;
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include "slimcodec/common/result.hpp"

namespace slimcodec::layers {

// A dotted tensor name grown and shrunk as the spec tree is walked ("members.2." + "stages.4." + ...).
class TensorName {
 public:
  static constexpr size_t kCapacity = 256;

  bool append(std::string_view s) noexcept {
    if (s.size() > kCapacity - len_) return ok_ = false;
    std::memcpy(buf_ + len_, s.data(), s.size());
    len_ += s.size();
    return true;
  }
  bool append_index(long long i) noexcept {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof(tmp), i);
    return append(std::string_view(tmp, size_t(r.ptr - tmp)));
  }
  size_t size() const noexcept { return len_; }
  void truncate(size_t n) noexcept { len_ = n < len_ ? n : len_; }
  std::string_view view() const noexcept { return {buf_, len_}; }
  // False once any append overflowed: names are then wrong, so binding reports an error.
  bool ok() const noexcept { return ok_; }

 private:
  char buf_[kCapacity] = {};
  size_t len_ = 0;
  bool ok_ = true;
};

// Restores a TensorName's length when a scope ends.
class NameScope {
 public:
  explicit NameScope(TensorName& n) noexcept : name_(n), mark_(n.size()) {}
  ~NameScope() { name_.truncate(mark_); }
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;

 private:
  TensorName& name_;
  size_t mark_;
};

// Looks up name + suffix with exactly `shape`; copies it into dst when dst is not null (a null dst only
// validates, which lets loaders check every tensor before changing any weight).
template <class Source>
Result<void> bind_tensor(const Source& src, TensorName& name, std::string_view suffix,
                         std::initializer_list<int64_t> shape, float* dst) {
  NameScope scope(name);
  if (!name.ok() || !name.append(suffix)) return Error{Errc::invalid_argument, "tensor name longer than 256 bytes"};
  Result<const float*> r = src.tensor_f32(name.view(), shape.begin(), shape.size());
  if (!r) return r.error();
  if (dst != nullptr) {
    size_t count = 1;
    for (int64_t d : shape) count *= size_t(d);
    std::memcpy(dst, r.value(), count * sizeof(float));
  }
  return {};
}

}  // namespace slimcodec::layers
