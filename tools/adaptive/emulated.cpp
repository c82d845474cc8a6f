#include "emulated.hpp"

#include <slimcodec/device/calibration.hpp>
#include <slimcodec/server/builtin.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace slimcodec::adaptive_demo {

namespace {

constexpr double kPaperMemberMs = 66;  // paper, RPi4 TorchScript, one member

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

// A backend that runs another one, then pads the decode to at least pad_ms: a faster (GPU) server's time on a
// machine that has none. The reply's decode_us includes the pad, so the device learns it like any server time.
class PaddedBackend final : public server::DecoderBackend {
 public:
  PaddedBackend(std::unique_ptr<server::DecoderBackend> inner, double pad_ms) : inner_(std::move(inner)), pad_ms_(pad_ms) {}
  std::string_view name() const override { return "emulated-server"; }

 protected:
  Result<server::FeatureMap> run(const float* features, Shape shape) override {
    const auto start = Clock::now();
    auto out = inner_->decode(features, shape);
    if (!out) return out.error();
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double, std::milli>(pad_ms_)));
    return out->features;
  }

 private:
  std::unique_ptr<server::DecoderBackend> inner_;
  double pad_ms_;
};

}  // namespace

Result<void> EmulatedDevice::set_active(int s) { return encoder_.set_active(s); }
layers::Shape EmulatedDevice::out_shape() const { return encoder_.out_shape(); }

// The real encode, then a sleep up to `slowdown` times its CPU time.
void EmulatedDevice::encode(const float* in, float* out) {
  const auto wall = Clock::now();
  const double cpu = thread_cpu_ms();
  encoder_.encode(in, out);
  last_cpu_ms_ = thread_cpu_ms() - cpu;
  if (slowdown_ > 1)
    std::this_thread::sleep_until(wall + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double, std::milli>(slowdown_ * last_cpu_ms_)));
}

Result<std::unique_ptr<server::DecoderBackend>> make_padded_backend(const server::BackendOptions& o) {
  auto inner_name = o.find("inner");
  auto pad = o.find("pad_ms");
  if (inner_name == o.end() || pad == o.end()) return Error{Errc::invalid_argument, "emulated-server: inner and pad_ms"};
  server::BackendRegistry builtin;  // the wrapped backend: "identity" or "native"
  server::register_builtin_backends(builtin);
  auto inner = builtin.create(inner_name->second, o);
  if (!inner) return inner.error();
  return std::unique_ptr<server::DecoderBackend>(new PaddedBackend(std::move(*inner), std::atof(pad->second.c_str())));
}

Result<PaperEncoder> create_encoder(const Options& o) {
  auto enc = PaperEncoder::create(layers::paper::kInput.h, layers::paper::kInput.w);
  if (!enc) return enc.error();
  auto file = weights::SafeTensorsFile::open(o.weights);
  // A whole split-model file (training/'s) keeps the encoder under "encoder."; an encoder-only file has no prefix.
  if (file && enc->load(*file, file->count_with_prefix("encoder.") > 0 ? "encoder" : "")) {
    std::printf("  encoder weights: %s\n", o.weights.c_str());
  } else {
    enc->init_random(1);
    std::printf("  encoder weights: %s not usable, random weights (latency is what matters here)\n", o.weights.c_str());
  }
  return enc;
}

void calibrate_coded_bytes(EmulatedDevice& device, FrameEncoder<EmulatedDevice>& probe, double slowdown,
                           const std::vector<std::vector<float>>& inputs, OperatingPointTable& base) {
  device.set_slowdown(1);
  std::printf("\n  codec-1 frame bytes, mean over the %zu images (bit-packed in brackets):\n", inputs.size());
  for (unsigned s = 1; s <= kMaxMembers; ++s) {
    std::printf("   ");
    for (unsigned b = 1; b <= kMaxBits; ++b) {
      if (!base.at(s, b).enabled) continue;
      const double packed = base.at(s, b).bytes;
      for (const auto& x : inputs)
        if (auto f = probe.encode(x.data(), s, b, 0, 0)) base.observe_bytes(s, b, double(f->size));
      std::printf("  s=%u b=%u %.0f (%.0f)", s, b, base.at(s, b).bytes, packed);
    }
    std::printf("\n");
  }
  device.set_slowdown(slowdown);
}

Result<double> emulate_device(const Options& o, EmulatedDevice& device, FrameEncoder<EmulatedDevice>& probe,
                              const std::vector<std::vector<float>>& inputs, OperatingPointTable& base,
                              std::array<double, kMaxMembers>& calibrated) {
  std::vector<double> cpu;
  for (int i = 0; i < 8; ++i) {
    if (auto f = probe.encode(inputs[0].data(), 1, 4 /* b */, 0, 0); !f) {
      std::fprintf(stderr, "encode: %s\n", f.error().what());
      return f.error();
    }
    if (i > 0) cpu.push_back(device.last_cpu_ms());
  }
  const double cpu_s1 = median(cpu);
  const double slowdown = o.slowdown > 0 ? o.slowdown : std::max(1.0, kPaperMemberMs / cpu_s1);
  device.set_slowdown(slowdown);
  std::printf("\n  EMULATED DEVICE: the encoder runs here (s=1: %.2f ms of CPU) and then sleeps to cost %.1fx that%s:\n",
              cpu_s1, slowdown, o.slowdown > 0 ? "" : " (s=1 = the paper's Raspberry Pi 4, 66 ms)");
  auto measured = calibrate_encoder(probe, inputs[0].data(), kMaxMembers, base, CalibrationOptions{1, 7, 4});
  if (!measured) {
    std::fprintf(stderr, "calibration: %s\n", measured.error().what());
    return measured.error();
  }
  calibrated = *measured;
  std::printf("  calibrated encode + quantize + frame, median of 7:");
  for (unsigned s = 1; s <= kMaxMembers; ++s) std::printf("  s=%u %.1f ms", s, calibrated[s - 1]);
  return slowdown;
}

void describe_server(const Options& o) {
  std::printf("\n  EMULATED SERVER: %s\n",
              !o.service_host.empty() ? "no (an external decode service)"
              : o.server_ms > 0 ? ("decode padded to at least " + std::to_string(int(o.server_ms)) + " ms (" + o.backend + " backend inside)").c_str()
                                : ("no padding (" + o.backend + " backend)").c_str());
}

}  // namespace slimcodec::adaptive_demo
