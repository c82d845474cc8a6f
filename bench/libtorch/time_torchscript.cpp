// Times TorchScript modules on LibTorch with one thread: the PyTorch baseline of the encoder and decoder
// benchmarks. Usage: time_torchscript C H W iterations model.pt [model.pt ...] -> one JSON line per model.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s C H W iterations model.pt [model.pt ...]\n", argv[0]);
    return 2;
  }
  const int64_t c = std::stoll(argv[1]), h = std::stoll(argv[2]), w = std::stoll(argv[3]);
  const int iterations = std::stoi(argv[4]);
  at::set_num_threads(1);
  at::set_num_interop_threads(1);
  torch::NoGradGuard no_grad;
  const torch::Tensor input = torch::sin(torch::arange(c * h * w, torch::kFloat32) * 0.001f).reshape({1, c, h, w});
  for (int m = 5; m < argc; ++m) {
    torch::jit::Module module;
    try {
      module = torch::jit::load(argv[m]);
    } catch (const c10::Error& e) {
      std::fprintf(stderr, "cannot load %s: %s\n", argv[m], e.what_without_backtrace());
      return 1;
    }
    module.eval();
    std::vector<torch::jit::IValue> inputs{input};
    for (int i = 0; i < 5; ++i) module.forward(inputs);  // warm-up (profiling executor needs a few runs)
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      module.forward(inputs);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("{\"runtime\": \"libtorch\", \"model\": \"%s\", \"median_ms\": %.4f, \"min_ms\": %.4f, \"iterations\": %d}\n",
                argv[m], ms[ms.size() / 2], ms.front(), iterations);
  }
  return 0;
}
