// Detection backends: the server's whole task, bottleneck -> teacher tail -> CenterNet decoding (centernet.hpp),
// so each frame's reply can carry its boxes. Two ways to run the same model, measured side by side in
// bench_service:
//   "detect-native"      the C++ reconstructor (native.hpp) feeding the teacher tail in LibTorch;
//                        options: weights=<student.safetensors> tail=<teacher_tail.pt> [max_pixels=<n>]
//   "detect-torchscript" the exported server side in LibTorch (reconstructor + tail); options: module=<server.pt>
// Both also take [threads=<n>] [top_k=1..100] [score_threshold=<float in (0, 1]>] (default 100, 0.1). Boxes are in
// the pixels of the model's input (4 x the maps' width and height). The backend's feature map is the 84 maps.
// Optional like libtorch.hpp: include only when building with LibTorch. Registered explicitly by
// register_detection_backends(registry).
#pragma once

#include "slimcodec/server/centernet.hpp"
#include "slimcodec/server/native.hpp"
#include "slimcodec/server/registry.hpp"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <array>
#include <charconv>
#include <exception>
#include <memory>
#include <string>

namespace slimcodec::server {

class DetectionBackend final : public DecoderBackend {
 public:
  // The C++ reconstructor feeding the LibTorch teacher tail.
  static Result<std::unique_ptr<DecoderBackend>> create_native_tail(const BackendOptions& options) {
    if (options.find("weights") == options.end()) {
      return Error{Errc::invalid_argument, "detect-native needs weights=<file.safetensors> and tail=<teacher_tail.pt>"};
    }
    auto reconstructor = NativeBackend<>::create(options);
    if (!reconstructor) return reconstructor.error();
    return create("detect-native", "tail", options, std::move(*reconstructor));
  }

  // The all-TorchScript server side (server.pt).
  static Result<std::unique_ptr<DecoderBackend>> create_torchscript(const BackendOptions& options) {
    return create("detect-torchscript", "module", options, nullptr);
  }

  std::string_view name() const override { return name_; }
  Detections detections() const override { return {detections_.data(), count_}; }
  // detect-native takes what its reconstructor takes; the TorchScript module declares nothing (any frame shape).
  ShapeLimits accepted() const override { return reconstructor_ ? reconstructor_->accepted() : ShapeLimits{}; }
  const CenterNetParams& params() const { return params_; }

 protected:
  Result<FeatureMap> run(const float* features, Shape shape) override {
    count_ = 0;
    const float* in = features;
    Shape in_shape = shape;
    if (reconstructor_) {
      auto tap = reconstructor_->decode(features, shape);
      if (!tap) return tap.error();
      if (!all_finite(tap->features.data, tap->features.shape.size()))  // the tail would answer NaN maps
        return Error{Errc::output_not_finite, "the reconstructor's output is not finite"};
      in = tap->features.data;
      in_shape = tap->features.shape;
    }
    try {
      torch::NoGradGuard no_grad;
      // from_blob does not copy; a traced module does not write to its input.
      const torch::Tensor t = torch::from_blob(
          const_cast<float*>(in), {1, int64_t(in_shape.c), int64_t(in_shape.h), int64_t(in_shape.w)},
          torch::kFloat32);
      maps_ = module_.forward({t}).toTensor().to(torch::kFloat32).contiguous();
    } catch (const std::exception&) {  // c10::Error, and the interpreter's JITException
      return Error{Errc::backend_failed, "TorchScript tail failed on this input"};
    }
    if (maps_.dim() != 4 || maps_.size(0) != 1) return Error{Errc::backend_failed, "tail output is not 1xCxHxW"};
    const Shape out{int64_t(maps_.size(1)), int64_t(maps_.size(2)), int64_t(maps_.size(3))};
    const float* m = maps_.data_ptr<float>();
    auto n = decoder_.decode(m, size_t(out.c), size_t(out.h), size_t(out.w), params_, detections_.data(), detections_.size());
    if (!n) return Error{Errc::backend_failed, "tail output is not CenterNet's 80 heatmaps + 4 box extents"};
    count_ = *n;
    return FeatureMap{m, out};
  }

 private:
  static Result<std::unique_ptr<DecoderBackend>> create(const char* name, const char* module_key,
                                                        const BackendOptions& options,
                                                        std::unique_ptr<DecoderBackend> reconstructor) {
    auto path = options.find(module_key);
    if (path == options.end()) {
      return Error{Errc::invalid_argument, reconstructor ? "detect-native needs tail=<teacher_tail.pt>"
                                                         : "detect-torchscript needs module=<server.pt>"};
    }
    auto threads = option_u64(options, "threads", 1, 1024, "detection threads must be a decimal integer in 1..1024");
    if (!threads) return threads.error();
    auto top_k = option_u64(options, "top_k", 1, kMaxDetections, "detection top_k must be a decimal integer in 1..100");
    if (!top_k) return top_k.error();
    CenterNetParams params;
    params.top_k = size_t(top_k->value_or(kMaxDetections));
    if (auto t = options.find("score_threshold"); t != options.end()) {
      const std::string& text = t->second;
      float v = 0;
      const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size() || !(v > 0) || !(v <= 1)) {
        return Error{Errc::invalid_argument, "detection score_threshold must be a number in (0, 1]"};
      }
      params.score_threshold = v;
    }
    if (*threads) at::set_num_threads(int(**threads));
    try {
      torch::jit::Module module = torch::jit::load(path->second);
      module.eval();
      std::unique_ptr<DecoderBackend> backend(
          new (std::nothrow) DetectionBackend(name, std::move(module), std::move(reconstructor), params));
      if (!backend) return Error{Errc::out_of_memory, "detection backend: cannot allocate"};
      return backend;
    } catch (const std::exception&) {
      return Error{Errc::io_error, "cannot load the TorchScript module"};
    }
  }

  DetectionBackend(const char* name, torch::jit::Module module, std::unique_ptr<DecoderBackend> reconstructor,
                   CenterNetParams params)
      : name_(name), module_(std::move(module)), reconstructor_(std::move(reconstructor)), params_(params) {}

  const char* name_;
  torch::jit::Module module_;
  std::unique_ptr<DecoderBackend> reconstructor_;  // null for detect-torchscript
  CenterNetParams params_;
  CenterNetDecoder decoder_;
  torch::Tensor maps_;  // the last output, which the returned FeatureMap views
  std::array<Detection, kMaxDetections> detections_{};
  size_t count_ = 0;
};

// Adds "detect-native" and "detect-torchscript" to `registry`; false when a name was already taken.
inline bool register_detection_backends(BackendRegistry& registry) {
  const bool a = registry.add("detect-native", DetectionBackend::create_native_tail);
  const bool b = registry.add("detect-torchscript", DetectionBackend::create_torchscript);
  return a && b;
}

}  // namespace slimcodec::server
