// slimcodec-adaptive-demo's emulated device and server: the encoder made as slow as a Raspberry-Pi-class board, and a
// decoder backend padded to a GPU-class server's time.
#pragma once

#include "common.hpp"
#include "options.hpp"

#include <slimcodec/device/frame_encoder.hpp>
#include <slimcodec/device/operating_points.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/server/registry.hpp>

#include <array>
#include <memory>
#include <vector>

namespace slimcodec::adaptive_demo {

using PaperEncoder = model::Encoder<layers::paper::Encoder>;
static_assert(layers::paper::Encoder::kMembers == int(kMaxMembers), "the table covers every s");

// The encoder as a slower device runs it: the real encode, then a sleep up to `slowdown` times its CPU time. CPU
// time, not wall time, so time stolen by other processes on a shared machine is not multiplied too.
class EmulatedDevice {
 public:
  EmulatedDevice(PaperEncoder& encoder, double slowdown) : encoder_(encoder), slowdown_(slowdown) {}
  Result<void> set_active(int s);
  layers::Shape out_shape() const;
  void set_slowdown(double x) { slowdown_ = x; }
  double last_cpu_ms() const { return last_cpu_ms_; }
  void encode(const float* in, float* out);

 private:
  PaperEncoder& encoder_;
  double slowdown_;
  double last_cpu_ms_ = 0;
};

// The "emulated-server" backend for the registry: runs the backend named by option "inner", padded to "pad_ms".
Result<std::unique_ptr<server::DecoderBackend>> make_padded_backend(const server::BackendOptions& o);

// The paper encoder with --weights, or with random weights when those are not usable (latency is what matters).
Result<PaperEncoder> create_encoder(const Options& o);

// Emulated device: measures the real CPU time of s=1, sets the slowdown (the paper's Raspberry Pi 4 unless
// --device-slowdown), then calibrates encode + quantize + frame for every s into `base`. Returns the slowdown.
Result<double> emulate_device(const Options& o, EmulatedDevice& device, FrameEncoder<EmulatedDevice>& probe,
                              const std::vector<std::vector<float>>& inputs, OperatingPointTable& base,
                              std::array<double, kMaxMembers>& calibrated);

// Codec 1: the expected frame bytes of every enabled (s, b) from the mean coded size of the demo's own images.
void calibrate_coded_bytes(EmulatedDevice& device, FrameEncoder<EmulatedDevice>& probe, double slowdown,
                           const std::vector<std::vector<float>>& inputs, OperatingPointTable& base);

// Says what the server is: external, padded (the emulated server) or the backend's own time.
void describe_server(const Options& o);

}  // namespace slimcodec::adaptive_demo
