// The native backend: the C++ reconstructor (paper Table III) from the layer specs, weights from safetensors.
// Registered as "native"; options: weights=<file.safetensors> [prefix=reconstructor.] or random_seed=<n>, and
// max_pixels=<n>: the largest H x W of an input it accepts (default 9216, the paper's 96 x 96 bottleneck). The
// network's memory grows with H x W (Net::memory_bytes: 57 MiB at 96 x 96, 1.5 GiB at 512 x 512, about 6 KiB
// per input pixel), so a larger frame is refused with shape_out_of_range before anything is allocated, rather
// than letting a client choose the server's memory.
// The network is built once, at create(), for the bottleneck it was trained on: height=<n> width=<n> when given,
// else the weights file's `student_input` metadata ("[H, W]", the encoder's input) divided by the encoder's
// downsampling (4), else the paper's 96 x 96; a default above max_pixels is not built until a frame comes. A frame
// of that size runs at once; a frame of another accepted size rebuilds the network (copying the weights) first.
#pragma once

#include <slimcodec/common/alloc.hpp>
#include <slimcodec/server/registry.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/network.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
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
    const uint64_t limit = max_pixels->value_or(kDefaultMaxPixels);
    auto height = option_u64(options, "height", 1, model::kMaxSide, "native backend: height must be in 1..8192");
    if (!height) return height.error();
    auto width = option_u64(options, "width", 1, model::kMaxSide, "native backend: width must be in 1..8192");
    if (!width) return width.error();
    if (height->has_value() != width->has_value())
      return Error{Errc::invalid_argument, "native backend: height= and width= go together"};
    if (height->has_value() && **height * **width > limit)
      return Error{Errc::invalid_argument, "native backend: height x width above max_pixels"};
    std::optional<weights::SafeTensorsFile> file;
    if (auto path = options.find("weights"); path != options.end()) {
      auto opened = weights::SafeTensorsFile::open(path->second);
      if (!opened) return opened.error();
      file.emplace(std::move(*opened));
    }
    // The size frames will have: given, trained, or the paper's.
    layers::Shape size = layers::paper::kLatent;
    if (height->has_value()) {
      size.h = int64_t(**height);
      size.w = int64_t(**width);
    } else if (file) {
      if (auto trained = trained_latent(*file)) size = *trained;
    }
    if (uint64_t(size.h) * uint64_t(size.w) > limit) size.h = size.w = 1;  // built by the first frame instead
    auto net = Net::create(int(size.h), int(size.w));
    if (!net) return net.error();
    if (file) {
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
    std::unique_ptr<DecoderBackend> backend(new (std::nothrow) NativeBackend(std::move(*net), limit));
    if (!backend) return Error{Errc::out_of_memory, "native backend: cannot allocate"};
    return backend;
  }

  std::string_view name() const override { return "native"; }

  // The input size the network is built for now, and how many times a frame of another size rebuilt it.
  layers::Shape built_for() const { return net_.in_shape(); }
  size_t rebuilds() const { return rebuilds_; }

  // The reconstructor's input for a split model whose metadata names the encoder's input ("student_input":
  // "[256, 256]"): that size divided by the encoder's downsampling; nullopt without usable metadata.
  static std::optional<layers::Shape> trained_latent(const weights::SafeTensorsFile& file) {
    constexpr int kDown = int(layers::paper::kInput.h / layers::paper::kLatent.h);  // 4
    auto text = file.metadata_value("student_input");
    if (!text) return std::nullopt;
    int hw[2] = {0, 0};
    const char* p = text->data();
    const char* end = p + text->size();
    for (int i = 0; i < 2; ++i) {
      while (p < end && (*p == '[' || *p == ' ' || *p == ',')) ++p;
      const auto r = std::from_chars(p, end, hw[i]);
      if (r.ec != std::errc{}) return std::nullopt;
      p = r.ptr;
    }
    if (hw[0] < kDown || hw[1] < kDown || hw[0] % kDown || hw[1] % kDown) return std::nullopt;
    return layers::Shape{Spec::kIn, hw[0] / kDown, hw[1] / kDown};
  }

 protected:
  Result<FeatureMap> run(const float* features, Shape shape) override {
    if (int(shape.c) != Spec::kIn) return Error{Errc::shape_out_of_range, "native backend: wrong channel count"};
    if (shape.h <= 0 || shape.w <= 0 || size_t(shape.h) > max_pixels_ / size_t(shape.w)) {
      return Error{Errc::shape_out_of_range, "native backend: frame H x W above max_pixels"};
    }
    const layers::Shape in = net_.in_shape();
    if (in.h != shape.h || in.w != shape.w) {  // first frame or a new size
      auto resized = Net::create(int(shape.h), int(shape.w));
      if (!resized) return resized.error();
      resized->weights() = net_.weights();
      net_ = std::move(*resized);
      ++rebuilds_;
    }
    const layers::Shape out = net_.out_shape();
    if (!try_resize(out_, size_t(out.c) * out.h * out.w)) {
      return Error{Errc::out_of_memory, "native backend: cannot allocate the output"};
    }
    net_.run(features, out_.data());
    return FeatureMap{out_.data(), Shape{int64_t(out.c), int64_t(out.h), int64_t(out.w)}};
  }

 private:
  NativeBackend(Net net, uint64_t max_pixels) : net_(std::move(net)), max_pixels_(max_pixels) {}
  Net net_;
  uint64_t max_pixels_;
  size_t rebuilds_ = 0;
  std::vector<float> out_;
};

}  // namespace slimcodec::server
