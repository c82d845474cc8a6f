// Self-calibrating frame sizes: the operating-point table's bytes follow the running mean of the frames sent
// (codec 1's size varies with the scene), starting from the bit-packed size, and the controller plans with them.
#include <slimcodec/device/controller.hpp>
#include <slimcodec/device/frame_encoder.hpp>
#include <slimcodec/device/operating_points.hpp>
#include <slimcodec/entropy/entropy.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::device;

TEST_CASE("operating points: bytes are the running mean of the coded sizes sent") {
  OperatingPointTable table(6 * 96 * 96, 0.2, 4);
  REQUIRE(table.at(4, 4).bytes == 27648 + 52);  // bit-packed until a frame is sent
  table.observe_bytes(4, 4, 16000);
  REQUIRE(table.at(4, 4).bytes == 16000);
  table.observe_bytes(4, 4, 18000);
  REQUIRE(table.at(4, 4).bytes == Approx(17000));
  table.observe_bytes(4, 4, 14000);
  table.observe_bytes(4, 4, 16000);
  REQUIRE(table.at(4, 4).bytes == Approx(16000));  // exact mean of the first 4
  table.observe_bytes(4, 4, 20000);                // then weight 1/4
  REQUIRE(table.at(4, 4).bytes == Approx(17000));
  for (int i = 0; i < 200; ++i) table.observe_bytes(4, 4, 12000);
  REQUIRE(table.at(4, 4).bytes == Approx(12000).margin(1));  // follows a new scene
  REQUIRE(table.at(4, 3).bytes == 20736 + 52);                // other points untouched
}

TEST_CASE("controller: coded sizes buy a higher b at the same deadline") {
  OperatingPointTable table;
  for (unsigned b = 1; b <= 4; ++b) {
    table.calibrate_encoder(4, 100);
    table.set_accuracy(4, b, 0.3 + 0.05 * b);
    table.observe_server_ms(4, b, 20);
  }
  const double rate = 100e3;  // 100 kB/s, deadline 400 ms planned at 360: 240 ms for the transfer = 24 kB
  Controller before(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.1});
  REQUIRE(before.decide(table, rate).b == 3);  // 20.8 kB bit-packed fits, 27.7 kB does not
  for (int i = 0; i < 8; ++i) table.observe_bytes(4, 4, 16500.0 + 100 * (i % 3));  // codec-1 frames
  Controller after(ControllerOptions{Objective::max_accuracy_within_deadline, 400, 0.1});
  REQUIRE(after.decide(table, rate).b == 4);
}

namespace {

// A stand-in encoder: a smooth, peaked 2 x 16 x 16 latent whatever the input.
struct FakeEncoder {
  struct Shape {
    int c = 2, h = 16, w = 16;
  };
  Result<void> set_active(int) { return {}; }
  Shape out_shape() const { return {}; }
  void encode(const float*, float* out) {
    for (int i = 0; i < 2 * 16 * 16; ++i) out[i] = 0.3f * std::sin(0.37f * float(i)) * std::exp(-0.01f * float(i % 97));
  }
};

}  // namespace

TEST_CASE("frame encoder: codec 1 with tables, sizes fed to the table") {
  FakeEncoder enc;
  FrameEncoder<FakeEncoder> frames(enc);
  const float input = 0;
  auto raw = frames.encode(&input, 4, 4, 1, 0);
  REQUIRE(raw.ok());
  REQUIRE(raw->data[wire::offset::kCodec] == 0);
  REQUIRE(raw->codec == wire::Codec::raw_bitpack);
  // Tables fitted to this latent's codes at b = 4 (bounds from s = 4, as the frame encoder uses).
  const quant::QuantParams qp = quant::make_params(4, quant::bounds_from_ensemble(4));
  std::vector<uint64_t> counts(2 * 16, 0);
  for (size_t i = 0; i < frames.latent().size(); ++i)
    ++counts[(i / 256) * 16 + quant::ref::quantize_value(frames.latent()[i], qp)];
  std::vector<uint16_t> f(2 * 16);
  for (size_t c = 0; c < 2; ++c) entropy::fit_frequencies(counts.data() + c * 16, 4, f.data() + c * 16);
  const uint16_t* fr[entropy::kMaxBits + 1] = {};
  fr[4] = f.data();
  auto tables = entropy::TableSet::create(5, 2, fr);
  REQUIRE(tables.ok());
  frames.set_entropy_tables(&*tables);
  auto coded = frames.encode(&input, 4, 4, 2, 0);
  REQUIRE(coded.ok());
  REQUIRE(coded->data[wire::offset::kCodec] == 1);
  REQUIRE(coded->codec == wire::Codec::rans);  // what FrameRecord::codec reports in the device loop
  REQUIRE(coded->size < raw->size);
  OperatingPointTable table(2 * 16 * 16);
  table.observe_bytes(4, 4, double(coded->size));
  REQUIRE(table.at(4, 4).bytes == double(coded->size));
  // b = 2 has no table: codec 0.
  auto other = frames.encode(&input, 4, 2, 3, 0);
  REQUIRE(other.ok());
  REQUIRE(other->data[wire::offset::kCodec] == 0);
  REQUIRE(other->codec == wire::Codec::raw_bitpack);
}
