// The device's per-frame work for one (s, b): run s encoder members, quantize at b bits with bounds derived from s,
// and write the wire frame into a buffer owned here (allocated once, never in the frame loop). Timed, because the
// controller's operating-point table is calibrated and refreshed from exactly this time.
#pragma once

#include "slimcodec/device/operating_points.hpp"
#include "slimcodec/codec.hpp"
#include "slimcodec/quant/bound_rules.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

namespace slimcodec::device {

struct EncodedFrame {
  const uint8_t* data = nullptr;  // valid until the next encode()
  size_t size = 0;
  double encode_ms = 0;  // set_active + encode + quantize + frame, wall clock
  wire::Codec codec = wire::Codec::raw_bitpack;  // what this frame carries (codec 1 only where it was smaller)
};

// Encoder: anything with `Result<void> set_active(int)`, `void encode(const float*, float*)` and `out_shape()`
// returning a shape with c, h, w (model::Encoder, or an application's wrapper around it).
template <class Encoder>
class FrameEncoder {
 public:
  explicit FrameEncoder(Encoder& encoder, quant::EnsembleBoundRule rule = {}) : encoder_(encoder), rule_(rule) {
    const auto shape = encoder.out_shape();
    shape_ = Shape{int64_t(shape.c), int64_t(shape.h), int64_t(shape.w)};
    latent_.resize(size_t(shape_.size()));
    frame_.resize(max_frame_size(latent_.size(), kMaxBits));
  }

  // Codec 1 from now on with these tables (nullptr: codec 0 only). The tables must outlive this object; the
  // code scratch is allocated here, once, so the frame loop still does not allocate.
  void set_entropy_tables(const entropy::TableSet* tables) {
    tables_ = tables;
    if (tables != nullptr) codes_.resize(latent_.size());
  }

  size_t values() const { return latent_.size(); }
  Encoder& encoder() { return encoder_; }
  const std::vector<float>& latent() const { return latent_; }  // the last encode()'s bottleneck tensor

  Result<EncodedFrame> encode(const float* input, unsigned s, unsigned b, uint32_t frame_id, uint64_t timestamp_us) {
    if (input == nullptr) return Error{Errc::invalid_argument, "null input"};
    if (!quant::bits_valid(b)) return Error{Errc::bits_out_of_range, "bits outside 1..8"};
    const auto start = std::chrono::steady_clock::now();
    if (auto ok = encoder_.set_active(int(s)); !ok) return ok.error();
    encoder_.encode(input, latent_.data());
    EncodeParams p;
    p.ensemble_size = uint8_t(s);
    p.bits = uint8_t(b);
    p.shape = shape_;
    p.bounds = quant::bounds_from_ensemble(s, rule_);
    p.bound_mode = wire::BoundMode::from_ensemble_size;
    p.frame_id = frame_id;
    p.timestamp_us = timestamp_us;
    auto size = tables_ != nullptr
                    ? encode_frame(latent_.data(), p, frame_.data(), frame_.size(),
                                   EntropyCoding{tables_, codes_.data(), codes_.size()})
                    : encode_frame(latent_.data(), p, frame_.data(), frame_.size());
    if (!size) return size.error();
    const auto stop = std::chrono::steady_clock::now();
    return EncodedFrame{frame_.data(), *size, std::chrono::duration<double, std::milli>(stop - start).count(),
                        static_cast<wire::Codec>(frame_[wire::offset::kCodec])};
  }

 private:
  Encoder& encoder_;
  quant::EnsembleBoundRule rule_;
  Shape shape_;
  std::vector<float> latent_;
  std::vector<uint8_t> frame_;
  const entropy::TableSet* tables_ = nullptr;
  std::vector<uint8_t> codes_;
};

}  // namespace slimcodec::device
