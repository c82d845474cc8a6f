// A backend that calls a user function, so an application can plug in its own runtime; and "identity", which
// returns the dequantized tensor unchanged (for tests and for pipelines that decode elsewhere).
#pragma once

#include "slimcodec/common/alloc.hpp"
#include "slimcodec/server/registry.hpp"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace slimcodec::server {

class CallbackBackend final : public DecoderBackend {
 public:
  static constexpr size_t kKeepOutputBytes = size_t(16) << 20;  // an output buffer kept between frames up to this
  // The function fills `out` (resized as needed) and `out_shape` from the input tensor. An exception it lets out
  // (std::bad_alloc from out.resize, say) is caught and reported as Errc::out_of_memory.
  using Function = std::function<Result<void>(const float* in, Shape in_shape, std::vector<float>& out,
                                              Shape& out_shape)>;

  CallbackBackend(std::string name, Function fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string_view name() const override { return name_; }

 protected:
  Result<FeatureMap> run(const float* in, Shape shape) override {
    // The previous frame's output is no longer referenced: a large one is given back rather than kept for the
    // worker's life (outside the service's memory budget), as frame_job.hpp does with its scratch.
    if (out_.capacity() * sizeof(float) > kKeepOutputBytes) std::vector<float>().swap(out_);
    Shape out_shape;
    Result<void> r = Errc::backend_failed;
    if (!try_allocate([&] { r = fn_(in, shape, out_, out_shape); })) {
      return Error{Errc::out_of_memory, "callback backend: allocation failed"};
    }
    if (!r) return r.error();
    if (out_shape.c <= 0 || out_shape.h <= 0 || out_shape.w <= 0 || out_.size() < size_t(out_shape.size()))
      return Error{Errc::backend_failed, "callback output empty or smaller than its shape"};
    return FeatureMap{out_.data(), out_shape};
  }

 private:
  std::string name_;
  Function fn_;
  std::vector<float> out_;
};

inline Result<std::unique_ptr<DecoderBackend>> make_identity_backend(const BackendOptions&) {
  return std::unique_ptr<DecoderBackend>(std::make_unique<CallbackBackend>(
      "identity", [](const float* in, Shape shape, std::vector<float>& out, Shape& out_shape) {
        if (!try_assign(out, in, in + shape.size())) {
          return Result<void>{Error{Errc::out_of_memory, "identity backend: cannot allocate the output"}};
        }
        out_shape = shape;
        return Result<void>{};
      }));
}

}  // namespace slimcodec::server
