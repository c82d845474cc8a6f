// The native backend: the C++ reconstructor (paper Table III) from the layer specs, weights from safetensors.
// Registered as "native"; options: weights=<file.safetensors> [prefix=reconstructor.] or random_seed=<n>, and
// max_pixels=<n>: the largest H x W of an input it accepts (default 9216, the paper's 96 x 96 bottleneck). The
// network's memory grows with H x W (Net::memory_bytes: 57 MiB at 96 x 96, 1.5 GiB at 512 x 512, about 6 KiB
// per input pixel), so a larger frame is refused with shape_out_of_range before anything is allocated, rather
// than letting a client choose the server's memory.
#pragma once

#include <slimcodec/common/alloc.hpp>
#include <slimcodec/server/registry.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/network.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <optional>
#include <string>
#include <vector>

namespace slimcodec::server {

template <class Spec = layers::paper::Reconstructor>
class NativeBackend final : public DecoderBackend {
 public:
  using Net = model::Reconstructor<Spec>;
  static constexpr uint64_t kDefaultMaxPixels = 96 * 96;

  static Result<std::unique_ptr<DecoderBackend>> create(const BackendOptions& options) {
    auto max_pixels = option_u64(options, "max_pixels", 1, uint64_t(model::kMaxSide) * model::kMaxSide,
                                 "native backend: max_pixels must be a decimal integer in 1..8192*8192");
    if (!max_pixels) return max_pixels.error();
    auto seed = option_u64(options, "random_seed", 0, UINT64_MAX,
                           "native backend: random_seed must be a decimal integer in 0..2^64-1");
    if (!seed) return seed.error();
    // Weights live in a network built for a placeholder size; run() rebuilds it for the size frames have.
    auto net = Net::create(1, 1);
    if (!net) return net.error();
    if (auto path = options.find("weights"); path != options.end()) {
      auto file = weights::SafeTensorsFile::open(path->second);
      if (!file) return file.error();
      std::string prefix;
      if (auto p = options.find("prefix"); p != options.end()) {
        prefix = p->second;
      } else if (file->count_with_prefix("reconstructor.") > 0) {
        prefix = "reconstructor.";  // a whole split-model file
      }
      if (auto loaded = net->load(*file, prefix); !loaded) return loaded.error();
    } else if (*seed) {
      net->init_random(**seed);
    } else {
      return Error{Errc::invalid_argument, "native backend needs weights=<file> or random_seed=<n>"};
    }
    std::unique_ptr<DecoderBackend> backend(new (std::nothrow)
                                                NativeBackend(std::move(*net), max_pixels->value_or(kDefaultMaxPixels)));
    if (!backend) return Error{Errc::out_of_memory, "native backend: cannot allocate"};
    return backend;
  }

  std::string_view name() const override { return "native"; }

 protected:
  Result<FeatureMap> run(const float* features, TensorShape shape) override {
    if (int(shape.channels) != Spec::kIn) return Error{Errc::shape_out_of_range, "native backend: wrong channel count"};
    if (shape.height == 0 || shape.width == 0 || shape.height > max_pixels_ / shape.width) {
      return Error{Errc::shape_out_of_range, "native backend: frame H x W above max_pixels"};
    }
    const layers::Shape in = net_.in_shape();
    if (size_t(in.h) != shape.height || size_t(in.w) != shape.width) {  // first frame or a new size
      auto resized = Net::create(int(shape.height), int(shape.width));
      if (!resized) return resized.error();
      resized->weights() = net_.weights();
      net_ = std::move(*resized);
    }
    const layers::Shape out = net_.out_shape();
    if (!try_resize(out_, size_t(out.c) * out.h * out.w)) {
      return Error{Errc::out_of_memory, "native backend: cannot allocate the output"};
    }
    net_.run(features, out_.data());
    return FeatureMap{out_.data(), TensorShape{size_t(out.c), size_t(out.h), size_t(out.w)}};
  }

 private:
  NativeBackend(Net net, uint64_t max_pixels) : net_(std::move(net)), max_pixels_(max_pixels) {}
  Net net_;
  uint64_t max_pixels_;
  std::vector<float> out_;
};

inline const bool kNativeBackendRegistered = BackendRegistry::global().add("native", NativeBackend<>::create);

}  // namespace slimcodec::server
