// slimcodec-adaptive-demo's inputs: the images it encodes, preprocessed for the paper encoder.
#pragma once

#include "options.hpp"

#include <vector>

namespace slimcodec::adaptive_demo {

// --images (files and folders), else scikit-image's photos, else tests/data, else 4 synthetic inputs; each
// 3 x 384 x 384 CHW, preprocessed. Prints what it loads.
std::vector<std::vector<float>> load_inputs(const Options& o);

}  // namespace slimcodec::adaptive_demo
