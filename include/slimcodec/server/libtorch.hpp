// The LibTorch backend: runs a TorchScript module (the reconstructor, or the reconstructor plus the rest of the
// network) on the dequantized tensor. Registered as "libtorch"; options: module=<file.pt> [threads=<n>].
// Optional: include only when building with LibTorch (CMake option SLIMCODEC_WITH_LIBTORCH).
#pragma once

#include "slimcodec/server/registry.hpp"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <exception>
#include <string>
#include <vector>

namespace slimcodec::server {

class LibTorchBackend final : public DecoderBackend {
 public:
  static Result<std::unique_ptr<DecoderBackend>> create(const BackendOptions& options) {
    auto path = options.find("module");
    if (path == options.end()) return Error{Errc::invalid_argument, "libtorch backend needs module=<file.pt>"};
    auto threads = option_u64(options, "threads", 1, 1024, "libtorch threads must be a decimal integer in 1..1024");
    if (!threads) return threads.error();
    if (*threads) at::set_num_threads(int(**threads));
    try {
      torch::jit::Module module = torch::jit::load(path->second);
      module.eval();
      return std::unique_ptr<DecoderBackend>(new LibTorchBackend(std::move(module)));
    } catch (const std::exception&) {
      return Error{Errc::io_error, "cannot load the TorchScript module"};
    }
  }

  std::string_view name() const override { return "libtorch"; }

 protected:
  Result<FeatureMap> run(const float* features, Shape shape) override {
    try {
      torch::NoGradGuard no_grad;
      // from_blob does not copy; the module must not write to its input (a traced reconstructor does not).
      const torch::Tensor in = torch::from_blob(const_cast<float*>(features),
                                                {1, int64_t(shape.c), int64_t(shape.h), int64_t(shape.w)},
                                                torch::kFloat32);
      torch::Tensor out = module_.forward({in}).toTensor().contiguous().to(torch::kFloat32);
      if (out.dim() != 4 || out.size(0) != 1) return Error{Errc::backend_failed, "module output is not 1xCxHxW"};
      out_.assign(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
      return FeatureMap{out_.data(), Shape{int64_t(out.size(1)), int64_t(out.size(2)), int64_t(out.size(3))}};
    } catch (const std::exception&) {  // c10::Error, and the interpreter's JITException
      return Error{Errc::backend_failed, "TorchScript module failed on this input"};
    }
  }

 private:
  explicit LibTorchBackend(torch::jit::Module module) : module_(std::move(module)) {}
  torch::jit::Module module_;
  std::vector<float> out_;
};

// Adds "libtorch" to `registry`; false when the name was already taken. Explicit, like the built-in backends.
inline bool register_libtorch_backend(BackendRegistry& registry) {
  return registry.add("libtorch", LibTorchBackend::create);
}

}  // namespace slimcodec::server
