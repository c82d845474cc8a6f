#include "inputs.hpp"

#include "../image_paths.hpp"

#include <slimcodec/layers/paper.hpp>
#ifndef SLIMCODEC_DEMO_NO_IMAGES
#include <slimcodec/io/image.hpp>
#endif

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace slimcodec::adaptive_demo {

namespace {

bool is_file(const std::string& p) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A smooth colour pattern, different per index, preprocessed like an image (mean 0, unit-ish spread).
std::vector<float> synthetic_input(int index) {
  const int h = layers::paper::kInput.h, w = layers::paper::kInput.w;
  std::vector<float> x(size_t(3) * h * w);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        x[(size_t(c) * h + i) * w + j] = 1.5f * std::sin(0.03f * float(i * (c + 1) + j * (index + 1)) + float(index));
  return x;
}

}  // namespace

std::vector<std::vector<float>> load_inputs(const Options& o) {
  std::vector<std::string> paths;
  if (!o.images.empty()) {
    paths = tools::expand_image_paths(o.images);
  } else {
    const std::string skimage = "/usr/lib/python3/dist-packages/skimage/data/";
    for (const char* n : {"rocket.jpg", "chelsea.png", "coffee.png", "astronaut.png"})
      if (is_file(skimage + n)) paths.push_back(skimage + n);
    if (paths.empty())
      for (const char* n : {"preprocess_rgb.png", "preprocess_rgb.jpg"})
        if (is_file(kSource + "/tests/data/" + n)) paths.push_back(kSource + "/tests/data/" + n);
  }
  std::vector<std::vector<float>> inputs;
  const auto in = layers::paper::kInput;
#ifndef SLIMCODEC_DEMO_NO_IMAGES
  for (const std::string& p : paths) {
    auto img = io::load_image(p);
    std::vector<float> x(size_t(in.size()));
    if (!img || !io::preprocess_image(*img, x.data(), size_t(in.h), size_t(in.w))) {
      std::printf("  skipping %s: %s\n", p.c_str(), img ? "cannot preprocess" : img.error().what());
      continue;
    }
    std::printf("  image %s (%zux%zu)\n", p.c_str(), img->width, img->height);
    inputs.push_back(std::move(x));
  }
#else
  if (!paths.empty()) std::printf("  built without an image loader (stb): using synthetic images\n");
#endif
  if (inputs.empty()) {
    std::printf("  no images found: 4 synthetic %dx%d inputs\n", int(in.w), int(in.h));
    for (int i = 0; i < 4; ++i) inputs.push_back(synthetic_input(i));
  }
  return inputs;
}

}  // namespace slimcodec::adaptive_demo
