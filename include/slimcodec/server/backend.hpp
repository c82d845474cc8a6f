// DecoderBackend: the server-side step that turns a dequantized bottleneck tensor into the feature map the rest
// of the network consumes. Backends are chosen by name at run time (see registry.hpp).
#pragma once

#include <slimcodec/common/result.hpp>
#include <slimcodec/common/shape.hpp>
#include <slimcodec/wire/detection.hpp>

#include <cstddef>
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

struct Decoded {
  FeatureMap features;  // the service times the whole frame (dequantization and backend) once: Reply::decode_us
};

// One instance is used by one thread at a time; a service creates one per worker.
class DecoderBackend {
 public:
  virtual ~DecoderBackend() = default;
  virtual std::string_view name() const = 0;

  // The detections of the last successful decode(), valid until the next one; none unless the backend detects.
  virtual Detections detections() const { return {}; }

  // Decodes a CHW float tensor.
  Result<Decoded> decode(const float* features, Shape shape) {
    if (features == nullptr || shape.size() == 0) return Errc::invalid_argument;
    Result<FeatureMap> out = run(features, shape);
    if (!out) return out.error();
    return Decoded{*out};
  }

 protected:
  virtual Result<FeatureMap> run(const float* features, Shape shape) = 0;
};

}  // namespace slimcodec::server
