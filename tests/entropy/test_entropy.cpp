// Codec 1: table fitting and validation, the reciprocal encoder step, rANS round trips for every b, hostile
// tables and streams (typed errors, no out-of-bounds), and the frame writer's codec-0 fallback.
#include <catch2/catch.hpp>

#include <slimcodec/codec.hpp>
#include <slimcodec/entropy/entropy.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#include <support/safetensors_writer.hpp>

#include <cstdint>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::entropy;

namespace {

struct Rng {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(s >> 33);
  }
};

// Codes with a peaked (two-sided geometric) distribution around the middle code, like a trained encoder's.
std::vector<uint8_t> peaked_codes(size_t n, unsigned bits, uint64_t seed, unsigned spread = 2) {
  Rng r{seed};
  const int m = 1 << bits, mid = m / 2;
  std::vector<uint8_t> q(n);
  for (auto& v : q) {
    int d = 0;
    while (d < m && r.next() % (spread + 1) != 0) ++d;
    int x = (r.next() & 1) ? mid + d : mid - d;
    v = uint8_t(x < 0 ? 0 : (x >= m ? m - 1 : x));
  }
  return q;
}

// A table set fitted to codes (per channel), for one b.
TableSet fitted(const std::vector<uint8_t>& q, size_t channels, unsigned bits, uint16_t id = 7) {
  const size_t plane = q.size() / channels, m = size_t(1) << bits;
  std::vector<uint16_t> f(channels * m);
  for (size_t c = 0; c < channels; ++c) {
    std::vector<uint64_t> counts(m, 0);
    for (size_t i = 0; i < plane; ++i) ++counts[q[c * plane + i]];
    fit_frequencies(counts.data(), bits, f.data() + c * m);
  }
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[bits] = f.data();
  auto t = TableSet::create(id, unsigned(channels), fr);
  REQUIRE(t.ok());
  return std::move(*t);
}

std::vector<uint8_t> encode(const std::vector<uint8_t>& q, size_t channels, unsigned bits, const TableSet& t) {
  std::vector<uint8_t> out(kPayloadHeaderSize + 2 * q.size() + 64);
  auto size = encode_payload(q.data(), channels, q.size() / channels, bits, t, out.data(), out.size());
  REQUIRE(size.ok());
  out.resize(*size);
  return out;
}

}  // namespace

TEST_CASE("fit_frequencies: sums to 4096, no zero, proportional, uniform for no data", "[entropy]") {
  for (unsigned b = 1; b <= 8; ++b) {
    const uint32_t m = 1u << b;
    std::vector<uint64_t> counts(m, 0);
    counts[0] = 1000000;
    counts[m - 1] = 10;
    std::vector<uint16_t> f(m);
    fit_frequencies(counts.data(), b, f.data());
    REQUIRE(check_frequencies(f.data(), b).ok());
    CHECK(f[0] > f[m - 1]);
    std::vector<uint64_t> none(m, 0);
    fit_frequencies(none.data(), b, f.data());
    for (auto v : f) CHECK(v == 4096 / m);
    std::vector<uint64_t> huge(m, uint64_t(1) << 62);  // no overflow
    fit_frequencies(huge.data(), b, f.data());
    for (auto v : f) CHECK(v == 4096 / m);
  }
}

TEST_CASE("reciprocal encoder step equals the division the spec defines", "[entropy]") {
  Rng r{3};
  for (uint32_t f = 1; f < 4096; ++f) {
    // A two-symbol table with this frequency for symbol 0, to get the EncSymbol the TableSet builds.
    const uint16_t freq[2] = {uint16_t(f), uint16_t(4096 - f)};
    const uint16_t* fr[kMaxBits + 1] = {};
    fr[1] = freq;
    auto t = TableSet::create(0, 1, fr, false);
    REQUIRE(t.ok());
    const EncSymbol& s0 = t->encoder(1, 0)[0];
    const EncSymbol& s1 = t->encoder(1, 0)[1];
    for (int k = 0; k < 40; ++k) {
      // States the encoder can hold before putting a symbol: [2^15, x_max) after renormalization.
      const uint32_t x0 = kStateLow + r.next() % (s0.x_max - kStateLow);
      const uint32_t x1 = kStateLow + r.next() % (s1.x_max - kStateLow);
      const uint32_t e0 = (k == 0) ? s0.x_max - 1 : x0, e1 = (k == 0) ? s1.x_max - 1 : x1;
      CHECK(detail::enc_put(e0, s0) == ((e0 / f) << 12) + e0 % f);
      CHECK(detail::enc_put(e1, s1) == ((e1 / (4096 - f)) << 12) + e1 % (4096 - f) + f);
    }
  }
}

TEST_CASE("rANS round trip for every b, shapes with tails, decodes into the caller's buffer only", "[entropy]") {
  for (unsigned b = 1; b <= 8; ++b) {
    for (size_t channels : {1, 3, 6}) {
      for (size_t plane : {1, 7, 8, 9, 63, 1000}) {
        auto q = peaked_codes(channels * plane, b, 100 * b + plane + channels);
        const TableSet t = fitted(q, channels, b);
        const auto payload = encode(q, channels, b, t);
        CHECK(payload.size() % 2 == 0);
        std::vector<uint8_t> back(q.size() + 16, 0xAB);
        REQUIRE(decode_payload(payload.data(), payload.size(), b, channels, plane, t, back.data(), q.size()).ok());
        CHECK(std::equal(q.begin(), q.end(), back.begin()));
        for (size_t i = q.size(); i < back.size(); ++i) CHECK(back[i] == 0xAB);
      }
    }
  }
}

TEST_CASE("codes the fitted data never produced stay decodable (frequency floor)", "[entropy]") {
  for (unsigned b = 1; b <= 8; ++b) {
    const size_t n = 5000;
    std::vector<uint8_t> train(n, 0);  // only code 0 seen when fitting
    const TableSet t = fitted(train, 1, b);
    auto q = peaked_codes(n, b, b);  // every code now
    const auto payload = encode(q, 1, b, t);
    std::vector<uint8_t> back(n);
    REQUIRE(decode_payload(payload.data(), payload.size(), b, 1, n, t, back.data(), n).ok());
    CHECK(back == q);
  }
}

TEST_CASE("skewed codes code below the bit-pack size", "[entropy]") {
  const size_t channels = 6, plane = 96 * 96;
  for (unsigned b = 2; b <= 8; ++b) {
    auto q = peaked_codes(channels * plane, b, 11 * b, 1);
    const TableSet t = fitted(q, channels, b);
    const auto payload = encode(q, channels, b, t);
    INFO("b " << b << " coded " << payload.size() << " raw " << channels * plane * b / 8);
    CHECK(payload.size() < channels * plane * b / 8);
  }
}

TEST_CASE("hostile tables are typed errors", "[entropy]") {
  std::vector<uint16_t> f(4, 1024);
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[2] = f.data();
  CHECK(TableSet::create(1, 1, fr).ok());
  f[1] = 0;
  f[0] = 2048;
  CHECK(TableSet::create(1, 1, fr).code() == Errc::entropy_table_invalid);  // a zero frequency
  f[1] = 1;
  CHECK(TableSet::create(1, 1, fr).code() == Errc::entropy_table_invalid);  // sums to 4097
  f = {65535, 65535, 2, 2};                                                 // wraps 16 bits: sum is 131074
  CHECK(TableSet::create(1, 1, fr).code() == Errc::entropy_table_invalid);
  f = {1024, 1024, 1024, 1024};
  CHECK(TableSet::create(1, 0, fr).code() == Errc::entropy_table_invalid);
  CHECK(TableSet::create(1, 1025, fr).code() == Errc::entropy_table_invalid);
  const uint16_t* none[kMaxBits + 1] = {};
  CHECK(TableSet::create(1, 1, none).code() == Errc::entropy_table_invalid);
}

TEST_CASE("table hash covers every frequency and the id is separate", "[entropy]") {
  std::vector<uint16_t> f(4, 1024);
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[2] = f.data();
  const uint32_t h = TableSet::create(1, 1, fr)->hash();
  CHECK(TableSet::create(2, 1, fr)->hash() == h);
  f = {1023, 1025, 1024, 1024};
  CHECK(TableSet::create(1, 1, fr)->hash() != h);
}

TEST_CASE("hostile streams: every truncation, state and byte corruption is an error or a round trip", "[entropy]") {
  const unsigned b = 4;
  const size_t channels = 2, plane = 300;
  auto q = peaked_codes(channels * plane, b, 5);
  const TableSet t = fitted(q, channels, b);
  const auto payload = encode(q, channels, b, t);
  std::vector<uint8_t> back(q.size());
  auto dec = [&](const std::vector<uint8_t>& p) {
    return decode_payload(p.data(), p.size(), b, channels, plane, t, back.data(), back.size());
  };
  REQUIRE(dec(payload).ok());
  for (size_t len = 0; len < payload.size(); ++len) {
    std::vector<uint8_t> cut(payload.begin(), payload.begin() + long(len));
    const auto r = dec(cut);
    REQUIRE(!r.ok());
    CHECK((r.code() == Errc::length_mismatch || r.code() == Errc::entropy_stream_invalid));
  }
  auto extra = payload;
  extra.push_back(0);
  extra.push_back(0);
  CHECK(dec(extra).code() == Errc::entropy_stream_invalid);  // words left over
  for (unsigned j = 0; j < kStates; ++j) {
    for (uint32_t bad : {0u, kStateLow - 1, kStateHigh, 0xFFFFFFFFu}) {
      auto p = payload;
      slimcodec::store_le32(p.data() + payload_offset::kStates + 4 * j, bad);
      CHECK(dec(p).code() == Errc::entropy_stream_invalid);
    }
  }
  auto p = payload;
  p[payload_offset::kTableId] ^= 1;
  CHECK(dec(p).code() == Errc::entropy_table_mismatch);
  p = payload;
  p[payload_offset::kTableHash + 3] ^= 0x80;
  CHECK(dec(p).code() == Errc::entropy_table_mismatch);
  p = payload;
  p[payload_offset::kReserved + 1] = 1;
  CHECK(dec(p).code() == Errc::reserved_nonzero);
  CHECK(decode_payload(payload.data(), payload.size(), 3, channels, plane, t, back.data(), back.size()).code() ==
        Errc::entropy_table_mismatch);  // no table for b = 3
  CHECK(decode_payload(payload.data(), payload.size(), b, 3, 200, t, back.data(), back.size()).code() ==
        Errc::entropy_table_mismatch);  // other channel count
  CHECK(decode_payload(payload.data(), payload.size(), b, channels, plane, t, back.data(), back.size() - 1).code() ==
        Errc::buffer_too_small);
  // Single-byte corruption of the words: an error, or (rarely) another valid stream, never a crash.
  Rng r{9};
  size_t errors = 0;
  for (int k = 0; k < 2000; ++k) {
    p = payload;
    p[kPayloadHeaderSize + r.next() % (p.size() - kPayloadHeaderSize)] ^= uint8_t(1 + r.next() % 255);
    const auto res = dec(p);
    if (!res.ok()) {
      CHECK(res.code() == Errc::entropy_stream_invalid);
      ++errors;
    }
  }
  CHECK(errors > 1900);
}

TEST_CASE("a table set without decoder tables encodes but does not decode", "[entropy]") {
  std::vector<uint16_t> f(2, 2048);
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[1] = f.data();
  auto t = TableSet::create(3, 1, fr, false);
  REQUIRE(t.ok());
  std::vector<uint8_t> q(64, 1), out(256), back(64);
  auto size = encode_payload(q.data(), 1, 64, 1, *t, out.data(), out.size());
  REQUIRE(size.ok());
  CHECK(decode_payload(out.data(), *size, 1, 1, 64, *t, back.data(), 64).code() == Errc::entropy_table_mismatch);
}

TEST_CASE("frame writer: codec 1 where smaller, codec 0 otherwise; both decode to the same values", "[entropy]") {
  const uint16_t c = 6, h = 24, w = 24;
  const size_t n = size_t(c) * h * w;
  Rng r{77};
  std::vector<float> x(n);
  for (auto& v : x) v = (float(r.next() % 2001) - 1000.f) / 4000.f * ((r.next() & 3) == 0 ? 4.f : 1.f);
  for (unsigned b = 1; b <= 8; ++b) {
    EncodeParams p;
    p.bits = uint8_t(b);
    p.shape = {c, h, w};
    p.bounds = {-1.f, 1.f};
    std::vector<uint8_t> codes(n), frame0(max_frame_size(n, b)), frame1(max_frame_size(n, b));
    auto s0 = encode_frame(x.data(), p, frame0.data(), frame0.size());
    REQUIRE(s0.ok());
    // Tables fitted to this very tensor's codes.
    auto f0 = wire::parse_frame(frame0.data(), *s0);
    REQUIRE(f0.ok());
    std::vector<float> v0(n), v1(n);
    REQUIRE(dequantize_frame(*f0, v0.data(), n).ok());
    const quant::QuantParams qp = quant::make_params(b, p.bounds);
    for (size_t i = 0; i < n; ++i) codes[i] = uint8_t(quant::ref::quantize_value(x[i], qp));
    const TableSet t = fitted(codes, c, b);
    std::vector<uint8_t> scratch(n);
    auto s1 = encode_frame(x.data(), p, frame1.data(), frame1.size(), EntropyCoding{&t, scratch.data(), n});
    REQUIRE(s1.ok());
    auto f1 = wire::parse_frame(frame1.data(), *s1);
    REQUIRE(f1.ok());
    INFO("b " << b << " codec-0 " << *s0 << " codec-1 frame " << *s1);
    if (b >= 2) CHECK(f1->header.codec == wire::Codec::rans);
    if (f1->header.codec == wire::Codec::rans) {
      CHECK(*s1 < *s0);
      CHECK(dequantize_frame(*f1, v1.data(), n).code() == Errc::entropy_table_mismatch);  // no tables given
    }
    REQUIRE(dequantize_frame(*f1, v1.data(), n, &t).ok());
    // Same codes; the dequantization may take a SIMD path (codec 0) or a scalar one (codec 1), which differ by
    // FMA rounding on some targets (armv7 NEON): the spec's bound, 2^-22 * max(|lo|, |hi|).
    const float tol = std::ldexp(std::max(std::fabs(p.bounds.lo), std::fabs(p.bounds.hi)), -22);
    size_t off = 0;
    for (size_t i = 0; i < n; ++i) off += !(std::fabs(v0[i] - v1[i]) <= tol);
    CHECK(off == 0);
  }
  // Incompressible codes (uniform over 256 values) fall back to codec 0.
  std::vector<float> u(n);
  for (auto& v : u) v = float(r.next() % 256) / 255.f * 2.f - 1.f;
  std::vector<uint16_t> flat(size_t(c) * 256, 16);
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[8] = flat.data();
  auto t = TableSet::create(9, c, fr);
  REQUIRE(t.ok());
  EncodeParams p;
  p.bits = 8;
  p.shape = {c, h, w};
  std::vector<uint8_t> scratch(n), frame(max_frame_size(n, 8));
  auto s = encode_frame(u.data(), p, frame.data(), frame.size(), EntropyCoding{&*t, scratch.data(), n});
  REQUIRE(s.ok());
  CHECK(frame[wire::offset::kCodec] == 0);
  CHECK(*s == max_frame_size(n, 8));
  // The fallback packs the codes it quantized for the coder: the same bytes as the codec-0 writer's.
  std::vector<uint8_t> plain(max_frame_size(n, 8));
  auto s_plain = encode_frame(u.data(), p, plain.data(), plain.size());
  REQUIRE(s_plain.ok());
  CHECK(frame == plain);
}

TEST_CASE("tables stored with the weights: load, and every malformed file is a typed error", "[entropy]") {
  std::vector<uint16_t> b2(3 * 4, 1024), b3(3 * 8, 512);
  auto load = [](const std::vector<weights::TensorToWrite>& t, const weights::Metadata& m) {
    auto bytes = weights::to_safetensors_bytes(t, m);
    REQUIRE(bytes.ok());
    auto file = weights::SafeTensorsFile::from_bytes(std::move(*bytes));
    REQUIRE(file.ok());
    return weights::load_entropy_tables(*file);
  };
  const weights::Metadata id{{"entropy.table_id", "513"}};
  auto ok = load({{"entropy.b2", weights::DType::U16, {3, 4}, b2.data()},
                  {"entropy.b3", weights::DType::U16, {3, 8}, b3.data()}},
                 id);
  REQUIRE(ok.ok());
  CHECK(ok->id() == 513);
  CHECK(ok->channels() == 3);
  CHECK((ok->has(2) && ok->has(3) && !ok->has(4)));
  CHECK(load({}, id).code() == Errc::tensor_missing);
  CHECK(load({{"entropy.b2", weights::DType::U16, {3, 4}, b2.data()}}, {}).code() == Errc::format_invalid);
  CHECK(load({{"entropy.b2", weights::DType::U16, {3, 4}, b2.data()}}, {{"entropy.table_id", "65536"}}).code() ==
        Errc::format_invalid);
  CHECK(load({{"entropy.b2", weights::DType::U16, {3, 4}, b2.data()}}, {{"entropy.table_id", "1x"}}).code() ==
        Errc::format_invalid);
  CHECK(load({{"entropy.b2", weights::DType::I16, {3, 4}, b2.data()}}, id).code() == Errc::tensor_dtype_mismatch);
  CHECK(load({{"entropy.b2", weights::DType::U16, {4, 3}, b2.data()}}, id).code() == Errc::tensor_shape_mismatch);
  CHECK(load({{"entropy.b2", weights::DType::U16, {3, 4}, b2.data()},
              {"entropy.b3", weights::DType::U16, {2, 8}, b3.data()}},
             id)
            .code() == Errc::tensor_shape_mismatch);  // C differs between b
  b2[5] = 0;
  CHECK(load({{"entropy.b2", weights::DType::U16, {3, 4}, b2.data()}}, id).code() == Errc::entropy_table_invalid);
}
