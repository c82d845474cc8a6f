// The native backend: the C++ reconstructor (paper Table III) from the layer specs, weights from safetensors.
// Registered as "native"; options: weights=<file.safetensors> [prefix=reconstructor.] or random_seed=<n>, and
// the shapes it accepts (accepted(), checked before the service allocates anything for a frame): 6 channels,
// max_pixels=<n> the largest H x W (default 9216, the paper's 96 x 96 bottleneck), max_height=<n> and
// max_width=<n> the largest H and W (default twice the side of a square of max_pixels, 192 by default), so a
// 6 x 4096 x 2 frame, under the pixel limit but slow to run, is refused too. The network's memory grows with
// H x W (Net::memory_bytes: 57 MiB at 96 x 96, 1.5 GiB at 512 x 512, about 6 KiB per input pixel), so a larger
// frame is refused with shape_out_of_range before anything is allocated, rather than letting a client choose the
// server's memory.
// The network is built once, at create(), for the bottleneck it was trained on: height=<n> width=<n> when given,
// else the weights file's `student_input` metadata ("[H, W]", the encoder's input) divided by the encoder's
// downsampling (4), else the paper's 96 x 96; a default above max_pixels is not built until a frame comes. A frame
// of that size runs at once. Networks for other accepted sizes are built when a frame first needs them and kept
// (at most kCachedSizes of them, the least recently used goes), so frames that alternate between a few sizes do
// not rebuild a network each; fixed_size=1 refuses every size but the built one instead.
#pragma once

#include "slimcodec/common/alloc.hpp"
#include "slimcodec/server/registry.hpp"
#include "slimcodec/layers/paper.hpp"
#include "slimcodec/model/network.hpp"
#include "slimcodec/weights/safetensors.hpp"

#include <algorithm>
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
    uint64_t side = 1;  // the side of a square of `limit` pixels, rounded up
    while (side * side < limit) ++side;
    const uint64_t default_side = std::min<uint64_t>(2 * side, model::kMaxSide);
    auto max_height =
        option_u64(options, "max_height", 1, model::kMaxSide, "native backend: max_height must be in 1..8192");
    if (!max_height) return max_height.error();
    auto max_width =
        option_u64(options, "max_width", 1, model::kMaxSide, "native backend: max_width must be in 1..8192");
    if (!max_width) return max_width.error();
    auto fixed = option_u64(options, "fixed_size", 0, 1, "native backend: fixed_size must be 0 or 1");
    if (!fixed) return fixed.error();
    ShapeLimits accepted;
    accepted.min_channels = accepted.max_channels = Spec::kIn;
    accepted.max_height = int64_t(max_height->value_or(default_side));
    accepted.max_width = int64_t(max_width->value_or(default_side));
    accepted.max_values = uint64_t(Spec::kIn) * limit;
    if (height->has_value() && (int64_t(**height) > accepted.max_height || int64_t(**width) > accepted.max_width))
      return Error{Errc::invalid_argument, "native backend: height or width above max_height or max_width"};
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
    const bool placeholder =
        uint64_t(size.h) * uint64_t(size.w) > limit || size.h > accepted.max_height || size.w > accepted.max_width;
    if (placeholder) size.h = size.w = 1;  // built by the first frame instead
    if (fixed->value_or(0) != 0) {
      if (placeholder)
        return Error{Errc::invalid_argument, "native backend: fixed_size=1 needs a size within the limits"};
      accepted.max_height = accepted.max_height < size.h ? accepted.max_height : size.h;
      accepted.max_width = accepted.max_width < size.w ? accepted.max_width : size.w;
      accepted.max_values = uint64_t(Spec::kIn) * uint64_t(size.h) * uint64_t(size.w);
      accepted.min_height = size.h;
      accepted.min_width = size.w;
    }
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
    std::unique_ptr<DecoderBackend> backend(new (std::nothrow) NativeBackend(std::move(*net), accepted, placeholder));
    if (!backend) return Error{Errc::out_of_memory, "native backend: cannot allocate"};
    return backend;
  }

  std::string_view name() const override { return "native"; }

  // At most this many networks for sizes other than the built one are kept.
  static constexpr size_t kCachedSizes = 2;

  ShapeLimits accepted() const override { return accepted_; }

  // The input size the network was built for at create(), how many networks frames of other sizes built, and the
  // sizes kept built besides it (most recently used first).
  layers::Shape built_for() const { return net_.in_shape(); }
  size_t rebuilds() const { return rebuilds_; }
  std::vector<layers::Shape> cached_sizes() const {
    std::vector<layers::Shape> out;
    for (const Net& n : others_) out.push_back(n.in_shape());
    return out;
  }

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
    // decode() checked accepted(): 6 channels, H and W within their limits, H x W within max_pixels.
    auto net = network_for(int(shape.h), int(shape.w));
    if (!net) return net.error();
    const layers::Shape out = (*net)->out_shape();
    if (!try_resize(out_, size_t(out.size()))) {
      return Error{Errc::out_of_memory, "native backend: cannot allocate the output"};
    }
    (*net)->run(features, out_.data());
    return FeatureMap{out_.data(), Shape{int64_t(out.c), int64_t(out.h), int64_t(out.w)}};
  }

 private:
  NativeBackend(Net net, ShapeLimits accepted, bool placeholder)
      : net_(std::move(net)), accepted_(accepted), placeholder_(placeholder) {}

  // The network for h x w: the built one, a cached one (moved to the front), or a new one with the same weights
  // (replacing the least recently used when kCachedSizes are kept).
  Result<Net*> network_for(int h, int w) {
    const layers::Shape in = net_.in_shape();
    if (in.h == h && in.w == w) return &net_;
    if (placeholder_) {  // the default size was above the limits: the first frame's size becomes the built one
      auto built = Net::create(h, w);
      if (!built) return built.error();
      built->weights() = net_.weights();
      net_ = std::move(*built);
      placeholder_ = false;
      ++rebuilds_;
      return &net_;
    }
    for (size_t i = 0; i < others_.size(); ++i) {
      const layers::Shape o = others_[i].in_shape();
      if (o.h == h && o.w == w) {
        std::rotate(others_.begin(), others_.begin() + ptrdiff_t(i), others_.begin() + ptrdiff_t(i) + 1);
        return &others_.front();
      }
    }
    auto built = Net::create(h, w);
    if (!built) return built.error();
    built->weights() = net_.weights();
    ++rebuilds_;
    if (others_.size() == kCachedSizes) others_.pop_back();
    if (!try_allocate([&] { others_.insert(others_.begin(), std::move(*built)); }))
      return Error{Errc::out_of_memory, "native backend: cannot keep the network"};
    return &others_.front();
  }

  Net net_;
  std::vector<Net> others_;  // most recently used first
  ShapeLimits accepted_;
  bool placeholder_ = false;
  size_t rebuilds_ = 0;
  std::vector<float> out_;
};

}  // namespace slimcodec::server
