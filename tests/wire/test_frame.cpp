// Header fields: size rules, validate() per field with its typed error, and the validation order.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <slimcodec/wire/frame.hpp>
#include <slimcodec/wire/header_codec.hpp>

using namespace slimcodec;
using namespace slimcodec::wire;

namespace {
FrameHeader good() {
  FrameHeader h;
  h.ensemble_size = 2;
  h.bits = 3;
  h.channels = 3;
  h.height = 5;
  h.width = 7;
  h.lo = -2.5f;
  h.hi = 2.5f;
  h.payload_size = uint32_t(expected_payload_size(h));
  return h;
}
}  // namespace

TEST_CASE("payload and frame sizes", "[wire][frame]") {
  CHECK(raw_bitpack_size(1, 1) == 16);
  CHECK(raw_bitpack_size(128, 1) == 16);
  CHECK(raw_bitpack_size(129, 1) == 32);
  CHECK(raw_bitpack_size(105, 3) == 48);
  CHECK(raw_bitpack_size(6 * 96 * 96, 4) == 27648);  // the paper's 4-bit frame
  CHECK(raw_bitpack_size(6 * 96 * 96, 1) == 6912);
  // The largest legal shape needs 64-bit arithmetic: 2^34 bytes at 8 bits.
  CHECK(expected_payload_size(Codec::raw_bitpack, 1024, 4096, 4096, 8) == (uint64_t{1} << 34));
  CHECK(expected_payload_size(Codec::rans, 1, 1, 1, 1) == 0);  // codec 1: a range, not one size
  const FrameHeader h = good();
  CHECK(h.payload_size == 48);
  CHECK(frame_size(h) == 48 + 48 + 4);
  static_assert(frame_size(FrameHeader{}) == kHeaderSize + kTrailerSize);
}

TEST_CASE("validate accepts the corners of every range", "[wire][frame]") {
  FrameHeader h = good();
  for (unsigned s : {1u, 16u}) {
    for (unsigned b : {1u, 8u}) {
      for (unsigned c : {1u, 1024u}) {
        h.ensemble_size = uint8_t(s);
        h.bits = uint8_t(b);
        h.channels = uint16_t(c);
        h.height = 1;
        h.width = 4096;
        h.payload_size = uint32_t(expected_payload_size(h));
        CHECK(validate(h).ok());
      }
    }
  }
  h = good();
  for (auto mode : {BoundMode::explicit_bounds, BoundMode::from_sigma, BoundMode::from_ensemble_size}) {
    h.bound_mode = mode;
    CHECK(validate(h).ok());
  }
  h = good();
  h.lo = -std::nextafter(0x1p125f, 0.0f);
  h.hi = std::nextafter(0x1p125f, 0.0f);
  CHECK(validate(h).ok());
  CHECK(std::isfinite(h.hi - h.lo));
  // The smallest valid step is 2^-126 exactly (b = 3: L = 7); one ulp less of width gives a subnormal step.
  h.lo = 0.0f;
  h.hi = 7 * 0x1p-126f;
  CHECK(dequantize_step(h.lo, h.hi, h.bits) == std::numeric_limits<float>::min());
  CHECK(validate(h).ok());
  h.hi = std::nextafter(h.hi, 0.0f);
  CHECK(validate(h).code() == Errc::bounds_invalid);
  // A narrow range away from zero is fine: the step is small but normal.
  h.lo = 1.0f;
  h.hi = std::nextafter(1.0f, 2.0f);
  CHECK(validate(h).ok());
  h.bits = 8;
  h.payload_size = uint32_t(expected_payload_size(h));
  CHECK(validate(h).ok());
}

TEST_CASE("validate rejects each field with its typed error", "[wire][frame]") {
  auto code = [](FrameHeader h) { return validate(h).code(); };
  auto resized = [](FrameHeader h) {
    h.payload_size = uint32_t(expected_payload_size(h));
    return h;
  };
  FrameHeader h = good();
  REQUIRE(code(h) == Errc::ok);

  h = good(), h.bound_mode = BoundMode(3);
  CHECK(code(h) == Errc::reserved_nonzero);
  h = good(), h.bound_mode = BoundMode(4);
  CHECK(code(h) == Errc::reserved_nonzero);
  h = good(), h.codec = Codec(2);
  CHECK(code(h) == Errc::codec_unsupported);
  h = good(), h.codec = Codec(255);
  CHECK(code(h) == Errc::codec_unsupported);
  for (int s : {0, 17, 255}) {
    h = good(), h.ensemble_size = uint8_t(s);
    CHECK(code(h) == Errc::ensemble_out_of_range);
  }
  for (int b : {0, 9, 255}) {
    h = good(), h.bits = uint8_t(b);
    CHECK(code(h) == Errc::bits_out_of_range);
  }
  for (int c : {0, 1025, 65535}) {
    h = good(), h.channels = uint16_t(c);
    CHECK(code(resized(h)) == Errc::shape_out_of_range);
  }
  for (int v : {0, 4097}) {
    h = good(), h.height = uint16_t(v);
    CHECK(code(resized(h)) == Errc::shape_out_of_range);
    h = good(), h.width = uint16_t(v);
    CHECK(code(resized(h)) == Errc::shape_out_of_range);
  }
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::pair<float, float> bad_bounds[] = {{nan, 1.0f}, {-1.0f, nan}, {-inf, 1.0f}, {-1.0f, inf},
                                               {1.0f, 1.0f}, {2.0f, -2.0f}, {0.0f, -0.0f}, {-0.0f, 0.0f},
                                               {-1.0f, 0x1p125f}, {-0x1p125f, 1.0f}, {-3e38f, 3e38f},
                                               // step (hi - lo) / 7 not a normal float
                                               {0.0f, std::numeric_limits<float>::denorm_min()},
                                               {-std::numeric_limits<float>::denorm_min(), 0.0f},
                                               {0.0f, 0x1p-124f}, {-0x1p-126f, 0x1p-126f}};
  for (auto [lo, hi] : bad_bounds) {
    h = good(), h.lo = lo, h.hi = hi;
    CHECK(code(h) == Errc::bounds_invalid);
  }
  h = good(), h.payload_size += 1;
  CHECK(code(h) == Errc::length_mismatch);
  h = good(), h.payload_size = 0;
  CHECK(code(h) == Errc::length_mismatch);
  // 2^34 expected bytes wrap to 0 in 32 bits; that must not count as a match.
  h = good(), h.channels = 1024, h.height = 4096, h.width = 4096, h.bits = 8, h.payload_size = 0;
  CHECK(code(h) == Errc::length_mismatch);
  h = good(), h.channels = 1024, h.height = 128, h.width = 256, h.bits = 8;
  CHECK(code(resized(h)) == Errc::length_too_large);  // 32 MiB > 16 MiB default
  CHECK(validate(resized(h), ParserLimits{size_t{32} << 20}).ok());
  h = good();
  CHECK(validate(h, ParserLimits{47}).code() == Errc::length_too_large);
  CHECK(validate(h, ParserLimits{48}).ok());
}

TEST_CASE("validate reports the first failing field in the documented order", "[wire][frame]") {
  FrameHeader h = good();
  h.bound_mode = BoundMode(3), h.codec = Codec(2), h.ensemble_size = 0, h.bits = 0, h.channels = 0,
  h.lo = 1.0f, h.hi = 0.0f, h.payload_size = 1;
  const Errc order[] = {Errc::reserved_nonzero, Errc::codec_unsupported, Errc::ensemble_out_of_range,
                        Errc::bits_out_of_range, Errc::shape_out_of_range, Errc::bounds_invalid,
                        Errc::length_mismatch};
  for (Errc want : order) {
    CHECK(validate(h).code() == want);
    // Repair the field just reported and expect the next one.
    switch (want) {
      case Errc::reserved_nonzero: h.bound_mode = BoundMode::from_sigma; break;
      case Errc::codec_unsupported: h.codec = Codec::raw_bitpack; break;
      case Errc::ensemble_out_of_range: h.ensemble_size = 4; break;
      case Errc::bits_out_of_range: h.bits = 3; break;
      case Errc::shape_out_of_range: h.channels = 3; break;
      case Errc::bounds_invalid: h.lo = -1.0f, h.hi = 1.0f; break;
      case Errc::length_mismatch: h.payload_size = 48; break;
      default: break;
    }
  }
  CHECK(validate(h).ok());
}

TEST_CASE("header encodes to the documented bytes and decodes back", "[wire][frame]") {
  FrameHeader h = good();
  h.bound_mode = BoundMode::from_ensemble_size;
  h.frame_id = 0xDEADBEEFu;
  h.timestamp_us = 0x0123456789ABCDEFull;
  uint8_t b[kHeaderSize];
  encode_header(h, b);
  const uint8_t want_start[] = {'S', 'L', 'M', 'C', 1, 48, 2, 0, 2, 3, 0, 0, 3, 0, 5, 0, 7, 0, 0, 0,
                                0x00, 0x00, 0x20, 0xC0, 0x00, 0x00, 0x20, 0x40,  // -2.5f, 2.5f
                                0xEF, 0xBE, 0xAD, 0xDE, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01,
                                48, 0, 0, 0};
  for (size_t i = 0; i < sizeof want_start; ++i) {
    INFO("byte " << i);
    CHECK(b[i] == want_start[i]);
  }
  CHECK(load_le32(b + 44) == crc32c(b, 44));
  auto back = decode_header(b);
  REQUIRE(back.ok());
  CHECK(back->bound_mode == h.bound_mode);
  CHECK(back->ensemble_size == 2);
  CHECK(back->bits == 3);
  CHECK(back->channels == 3);
  CHECK(back->height == 5);
  CHECK(back->width == 7);
  CHECK(back->lo == -2.5f);
  CHECK(back->hi == 2.5f);
  CHECK(back->frame_id == h.frame_id);
  CHECK(back->timestamp_us == h.timestamp_us);
  CHECK(back->payload_size == 48);
}

TEST_CASE("codec 1 length rule: even, at least 40, below the codec-0 size", "[wire][frame][entropy]") {
  auto code = [](FrameHeader h) { return validate(h).code(); };
  FrameHeader h = good();  // 105 values at 3 bits: codec 0 is 48 bytes
  h.codec = Codec::rans;
  for (uint32_t size : {0u, 38u, 41u, 47u, 48u, 50u, 0xFFFFFFFEu}) {
    h.payload_size = size;
    CHECK(code(h) == Errc::length_mismatch);
  }
  for (uint32_t size : {40u, 42u, 46u}) {
    h.payload_size = size;
    CHECK(validate(h).ok());
  }
  h.channels = 1, h.height = 1, h.width = 3, h.bits = 1;  // codec 0 is 16 bytes: codec 1 can never be smaller
  h.payload_size = 40;
  CHECK(code(h) == Errc::length_mismatch);
}
