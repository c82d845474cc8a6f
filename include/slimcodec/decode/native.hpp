// The native backend: the C++ reconstructor (paper Table III) from the layer specs, weights from safetensors.
// Registered as "native"; options: weights=<file.safetensors> [prefix=reconstructor.] or random_seed=<n>.
#pragma once

#include <slimcodec/decode/registry.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/network.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <optional>
#include <string>
#include <vector>

namespace slimcodec::decode {

template <class Spec = layers::paper::Reconstructor>
class NativeBackend final : public DecoderBackend {
 public:
  using Net = model::Reconstructor<Spec>;

  static Result<std::unique_ptr<DecoderBackend>> create(const BackendOptions& options) {
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
    } else if (auto seed = options.find("random_seed"); seed != options.end()) {
      net->init_random(std::stoull(seed->second));
    } else {
      return Error{Errc::invalid_argument, "native backend needs weights=<file> or random_seed=<n>"};
    }
    return std::unique_ptr<DecoderBackend>(new NativeBackend(std::move(*net)));
  }

  std::string_view name() const override { return "native"; }

 protected:
  Result<FeatureMap> run(const float* features, TensorShape shape) override {
    if (int(shape.channels) != Spec::kIn) return Error{Errc::shape_out_of_range, "native backend: wrong channel count"};
    const layers::Shape in = net_.in_shape();
    if (size_t(in.h) != shape.height || size_t(in.w) != shape.width) {  // first frame or a new size
      auto resized = Net::create(int(shape.height), int(shape.width));
      if (!resized) return resized.error();
      resized->weights() = net_.weights();
      net_ = std::move(*resized);
    }
    const layers::Shape out = net_.out_shape();
    out_.resize(size_t(out.c) * out.h * out.w);
    net_.run(features, out_.data());
    return FeatureMap{out_.data(), TensorShape{size_t(out.c), size_t(out.h), size_t(out.w)}};
  }

 private:
  explicit NativeBackend(Net net) : net_(std::move(net)) {}
  Net net_;
  std::vector<float> out_;
};

inline const bool kNativeBackendRegistered = BackendRegistry::global().add("native", NativeBackend<>::create);

}  // namespace slimcodec::decode
