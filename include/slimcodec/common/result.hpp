// Typed errors and Result<T>: how every API edge of slimcodec reports failure without exceptions.
// Error numbers are stable once released (gapped like zstd_errors.h); only append new ones.
#pragma once

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace slimcodec {

enum class Errc : uint8_t {
  ok = 0,
  // Frame parsing (wire/).
  truncated = 10,            // input ended inside a frame
  bad_magic = 12,            // first four bytes are not "SLMC"
  version_unsupported = 14,  // version byte is not one this build reads
  reserved_nonzero = 16,     // a reserved bit or byte is set
  header_size_invalid = 18,  // header-size byte disagrees with the version
  header_crc_mismatch = 20,  // header CRC-32C does not match
  bits_out_of_range = 22,    // b outside 1..8
  ensemble_out_of_range = 24,  // s outside 1..16
  shape_out_of_range = 26,   // C, H or W zero or above the limits
  bounds_invalid = 28,       // quantizer bounds not finite or lo >= hi
  codec_unsupported = 30,    // codec id unknown to this build
  length_mismatch = 32,      // payload length disagrees with shape, bits and codec
  length_too_large = 34,     // payload above the reader's memory limit
  crc_mismatch = 36,         // frame CRC-32C does not match
  entropy_table_mismatch = 38,  // codec 1: the frame names tables (id, hash, b, C) the decoder does not hold
  entropy_stream_invalid = 40,  // codec 1: rANS state out of range, stream too short or too long
  // Caller mistakes.
  buffer_too_small = 50,     // output buffer cannot hold the result
  invalid_argument = 52,     // an argument is out of its documented range
  // Files and models (weights/, layers/).
  io_error = 70,
  format_invalid = 72,       // malformed file contents (e.g. safetensors header)
  tensor_missing = 74,
  tensor_unexpected = 76,
  tensor_shape_mismatch = 78,
  tensor_dtype_mismatch = 80,
  image_invalid = 82,
  entropy_table_invalid = 84,  // codec 1 frequency table: a zero frequency, or not summing to 4096
  // Runtime.
  backend_unknown = 100,
  backend_failed = 102,
  timed_out = 104,           // a reply or transfer did not complete within its time limit
  out_of_memory = 106,       // an allocation failed
  overloaded = 108,          // the service's memory budget cannot take this frame now; retry later
  output_not_finite = 110,   // a decoder backend's output holds NaN or infinity: no answer, never ok
};

// A short, stable description of each error code.
constexpr const char* message(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::truncated: return "input ends inside a frame";
    case Errc::bad_magic: return "bad magic: not a slimcodec frame";
    case Errc::version_unsupported: return "unsupported frame version";
    case Errc::reserved_nonzero: return "reserved field is not zero";
    case Errc::header_size_invalid: return "header size does not match the version";
    case Errc::header_crc_mismatch: return "header CRC-32C mismatch";
    case Errc::bits_out_of_range: return "bits per value out of range 1..8";
    case Errc::ensemble_out_of_range: return "ensemble size out of range 1..16";
    case Errc::shape_out_of_range: return "tensor shape out of range";
    case Errc::bounds_invalid: return "quantizer bounds not finite or not increasing";
    case Errc::codec_unsupported: return "unsupported payload codec";
    case Errc::length_mismatch: return "payload length does not match shape, bits and codec";
    case Errc::length_too_large: return "payload length above the reader's limit";
    case Errc::crc_mismatch: return "frame CRC-32C mismatch";
    case Errc::entropy_table_mismatch: return "entropy tables named by the frame are not loaded";
    case Errc::entropy_stream_invalid: return "entropy-coded payload is corrupt";
    case Errc::buffer_too_small: return "output buffer too small";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::io_error: return "I/O error";
    case Errc::format_invalid: return "malformed file";
    case Errc::tensor_missing: return "tensor missing";
    case Errc::tensor_unexpected: return "unexpected tensor";
    case Errc::tensor_shape_mismatch: return "tensor shape mismatch";
    case Errc::tensor_dtype_mismatch: return "tensor dtype mismatch";
    case Errc::image_invalid: return "image cannot be decoded";
    case Errc::entropy_table_invalid: return "invalid entropy frequency table";
    case Errc::backend_unknown: return "unknown decoder backend";
    case Errc::backend_failed: return "decoder backend failed";
    case Errc::timed_out: return "timed out";
    case Errc::out_of_memory: return "out of memory";
    case Errc::overloaded: return "service overloaded: frame refused by its memory budget";
    case Errc::output_not_finite: return "decoder output not finite (NaN or infinity)";
  }
  return "unknown error";
}

// An error code plus an optional static detail string (never owned, never allocated).
struct Error {
  Errc code = Errc::ok;
  const char* detail = nullptr;
  constexpr const char* what() const noexcept { return detail ? detail : message(code); }
};

// Either a value or an Error. Minimal std::expected stand-in for C++17; no heap, no exceptions.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(const T& v) : ok_(true) { new (&storage_) T(v); }
  Result(T&& v) : ok_(true) { new (&storage_) T(std::move(v)); }
  Result(Error e) : ok_(false), err_(e) {}
  Result(Errc c, const char* detail = nullptr) : ok_(false), err_{c, detail} {}
  Result(const Result& o) : ok_(o.ok_), err_(o.err_) {
    if (ok_) new (&storage_) T(*o.ptr());
  }
  Result(Result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(o.ok_), err_(o.err_) {
    if (ok_) new (&storage_) T(std::move(*o.ptr()));
  }
  Result& operator=(Result o) {
    this->~Result();
    new (this) Result(std::move(o));
    return *this;
  }
  ~Result() {
    if (ok_) ptr()->~T();
  }

  explicit operator bool() const noexcept { return ok_; }
  bool ok() const noexcept { return ok_; }
  Errc code() const noexcept { return ok_ ? Errc::ok : err_.code; }
  const Error& error() const noexcept { return err_; }
  T& value() & { return *ptr(); }
  const T& value() const& { return *ptr(); }
  T&& value() && { return std::move(*ptr()); }
  T* operator->() { return ptr(); }
  const T* operator->() const { return ptr(); }
  T& operator*() & { return *ptr(); }
  const T& operator*() const& { return *ptr(); }

 private:
  T* ptr() { return std::launder(reinterpret_cast<T*>(&storage_)); }
  const T* ptr() const { return std::launder(reinterpret_cast<const T*>(&storage_)); }
  bool ok_;
  Error err_{};
  std::aligned_storage_t<sizeof(T), alignof(T)> storage_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(e) {}
  Result(Errc c, const char* detail = nullptr) : err_{c, detail} {}
  explicit operator bool() const noexcept { return err_.code == Errc::ok; }
  bool ok() const noexcept { return err_.code == Errc::ok; }
  Errc code() const noexcept { return err_.code; }
  const Error& error() const noexcept { return err_; }

 private:
  Error err_{};
};

}  // namespace slimcodec
