// DecoderBackend: the server-side step that turns a dequantized bottleneck tensor into the feature map the rest
// of the network consumes. Backends are chosen by name at run time (see registry.hpp).
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/common/shape.hpp"
#include "slimcodec/wire/detection.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace slimcodec::server {

// A reconstructed feature map, viewed in the backend's own buffer: valid until that backend's next decode().
struct FeatureMap {
  const float* data = nullptr;
  Shape shape;
};

// The task's answer a backend computed from the last decode() (a detector's boxes, in the model input's pixels),
// viewed in the backend's own buffer. Empty (count 0) for backends that only reconstruct features.
struct Detections {
  const wire::Detection* data = nullptr;
  size_t count = 0;
};

// The input shapes a backend accepts, per dimension and in values. The service checks a frame against them before it
// allocates anything for the frame (frame_job.hpp: admit_frame), so a backend's limits also bound the memory and the
// work one frame can cost. The defaults are the frame format's own limits.
struct ShapeLimits {
  int64_t min_channels = 1, max_channels = 1024;
  int64_t min_height = 1, max_height = 4096;
  int64_t min_width = 1, max_width = 4096;
  uint64_t max_values = uint64_t(1024) * 4096 * 4096;  // C x H x W

  // A frame's sides are 16-bit wire fields, so s.size() cannot overflow.
  bool accepts(Shape s) const noexcept {
    return s.c >= min_channels && s.c <= max_channels && s.h >= min_height && s.h <= max_height &&
           s.w >= min_width && s.w <= max_width && uint64_t(s.size()) <= max_values;
  }
};

struct Decoded {
  FeatureMap features;  // the service times the whole frame (dequantization and backend) once: Reply::decode_us
};

// True when none of the n floats is a NaN or an infinity (exponent bits all ones). Branch-free over blocks, so the
// compiler vectorizes it: about 0.1 ms for the paper's 24 x 192 x 192 output.
inline bool all_finite(const float* v, size_t n) {
  constexpr size_t kBlock = 4096;
  for (size_t at = 0; at < n; at += kBlock) {
    const size_t end = n - at < kBlock ? n : at + kBlock;
    uint32_t bad = 0;
    for (size_t i = at; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, v + i, sizeof bits);
      bad |= ((bits & 0x7F800000u) + 0x00800000u) >> 31;  // exponent 255 carries into bit 31
    }
    if (bad) return false;
  }
  return true;
}

// One instance is used by one thread at a time; a service creates one per worker.
class DecoderBackend {
 public:
  virtual ~DecoderBackend() = default;
  virtual std::string_view name() const = 0;

  // The detections of the last successful decode(), valid until the next one; none unless the backend detects.
  virtual Detections detections() const { return {}; }

  // The shapes decode() takes; others are refused with shape_out_of_range before anything is allocated. Fixed once
  // the backend is created (the service asks one instance for the whole pool).
  virtual ShapeLimits accepted() const { return {}; }

  // Decodes a CHW float tensor.
  Result<Decoded> decode(const float* features, Shape shape) {
    if (features == nullptr || shape.size() == 0) return Errc::invalid_argument;
    if (!accepted().accepts(shape)) return Error{Errc::shape_out_of_range, "the backend does not take this shape"};
    Result<FeatureMap> out = run(features, shape);
    if (!out) return out.error();
    return Decoded{*out};
  }

 protected:
  virtual Result<FeatureMap> run(const float* features, Shape shape) = 0;
};

}  // namespace slimcodec::server
