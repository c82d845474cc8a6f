// tests/golden/: the checked-in frames decode (ok/) or fail (err/) exactly as their sidecars say, the writer
// reproduces every ok/ frame byte for byte, and the hex dump in docs/wire-format.md matches its file.
#include <catch2/catch.hpp>

#include <cctype>
#include <cfloat>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "golden_io.hpp"
#include "wire_test_util.hpp"

#include <slimcodec/codec.hpp>
#include <slimcodec/weights/entropy_tables.hpp>

using namespace slimcodec;
using namespace slimcodec::wire;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(SLIMCODEC_TEST_DATA_DIR) / "golden";

// Feeds a whole file through FrameParser in fixed chunks; returns frames seen and the first error.
std::pair<size_t, Errc> stream_decode(const std::vector<uint8_t>& data, size_t chunk) {
  FrameParser p;
  size_t at = 0, frames = 0;
  while (at < data.size()) {
    auto r = p.feed(data.data() + at, std::min(chunk, data.size() - at));
    if (!r) return {frames, r.code()};
    at += *r;
    frames += p.has_frame();
  }
  return {frames, p.finish().code()};
}

// The table set every codec-1 golden frame names (tests/golden/tables.safetensors).
const entropy::TableSet& golden_tables() {
  static const entropy::TableSet tables = [] {
    auto file = weights::SafeTensorsFile::open((kGolden / "tables.safetensors").string());
    REQUIRE(file.ok());
    auto t = weights::load_entropy_tables(*file);
    REQUIRE(t.ok());
    return std::move(*t);
  }();
  return tables;
}

// A codec-1 frame's codes (an error for a payload the tables cannot decode).
Result<std::vector<uint8_t>> rans_codes(const FrameView& v) {
  const FrameHeader& h = v.header;
  std::vector<uint8_t> codes(size_t(h.channels) * h.height * h.width);
  auto ok = entropy::decode_payload(v.payload, v.payload_size, h.bits, h.channels, size_t(h.height) * h.width,
                                    golden_tables(), codes.data(), codes.size());
  if (!ok) return ok.error();
  return codes;
}

// Codec 1 re-encoded by the C++ coder and sealed by the writer.
std::vector<uint8_t> make_rans_frame(FrameHeader h, const std::vector<uint8_t>& codes) {
  std::vector<uint8_t> out(kHeaderSize + 2 * codes.size() + 64 + kTrailerSize);
  auto size = entropy::encode_payload(codes.data(), h.channels, size_t(h.height) * h.width, h.bits, golden_tables(),
                                      out.data() + kHeaderSize, out.size() - kHeaderSize - kTrailerSize);
  if (!size) return {};
  h.payload_size = uint32_t(*size);
  auto n = seal_frame(h, out.data(), out.size());
  if (!n) return {};
  out.resize(*n);
  return out;
}

}  // namespace

TEST_CASE("golden ok/ frames decode to their sidecars and re-encode to the same bytes", "[wire][golden]") {
  const auto files = golden::list_files(kGolden / "ok", ".bin");
  REQUIRE(files.size() >= 8);
  std::set<unsigned> bits_seen;
  size_t codec1_frames = 0;
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto data = golden::read_file(path);
    const auto side = golden::read_sidecar(fs::path(path).replace_extension(".txt"));
    REQUIRE(!side.frames.empty());
    size_t at = 0;
    for (const auto& want : side.frames) {
      REQUIRE(want.offset == at);
      auto v = parse_frame(data.data() + at, data.size() - at);
      REQUIRE(v.ok());
      CHECK(test::same_header(v->header, want.header));
      CHECK(v->frame_size == want.frame_size);
      bits_seen.insert(v->header.bits);
      codec1_frames += v->header.codec == Codec::rans;

      const size_t n = size_t(want.header.channels) * want.header.height * want.header.width;
      REQUIRE(want.codes.size() == n);
      REQUIRE(want.values.size() == n);
      std::vector<uint8_t> codes(n);
      if (v->header.codec == Codec::rans) {
        auto decoded = rans_codes(*v);
        REQUIRE(decoded.ok());
        codes = *decoded;
        // The whole frame path (parse + entropy decode + dequantize) gives the values of codec 0.
        std::vector<float> x(n);
        REQUIRE(decode_frame(data.data() + at, data.size() - at, x.data(), n, &golden_tables()).ok());
        const float eps = 4 * FLT_EPSILON * std::max(std::fabs(want.header.lo), std::fabs(want.header.hi));
        for (size_t i = 0; i < n; ++i)
          if (std::fabs(x[i] - want.values[i]) > eps) FAIL_CHECK("codec-1 value " << i << ": " << x[i]);
      } else {
        ref::unpack_codes(v->payload, n, v->header.bits, codes.data());
      }
      CHECK(codes == want.codes);
      // Values: lo + q * step in binary32; an FMA may differ from the sidecar by an ulp or two of the bounds.
      const float tol = 4 * FLT_EPSILON * std::max(std::fabs(want.header.lo), std::fabs(want.header.hi));
      for (size_t i = 0; i < n; ++i) {
        const float x = ref::dequantize_one(codes[i], v->header.bits, v->header.lo, v->header.hi);
        if (std::fabs(x - want.values[i]) > tol) FAIL_CHECK("value " << i << ": " << x << " vs " << want.values[i]);
      }

      // The C++ writer, given the sidecar's fields and codes, reproduces the Python generator's bytes.
      const auto again = want.header.codec == Codec::rans ? make_rans_frame(want.header, want.codes)
                                                          : test::make_frame(want.header, want.codes);
      REQUIRE(again.size() == want.frame_size);
      CHECK(std::equal(again.begin(), again.end(), data.begin() + long(at)));
      at += v->frame_size;
    }
    CHECK(at == data.size());
    for (size_t chunk : {size_t{1}, size_t{13}, data.size()}) {
      const auto [frames, err] = stream_decode(data, chunk);
      CHECK(frames == side.frames.size());
      CHECK(err == Errc::ok);
    }
  }
  for (unsigned b : {1u, 3u, 4u, 8u}) CHECK(bits_seen.count(b) == 1);
  CHECK(codec1_frames >= 4);
}

TEST_CASE("FMA reconstruction stays within docs/wire-format.md's bound on every golden's bounds",
          "[wire][golden]") {
  // lo + q * step rounded twice (the spec) against fma(q, step, lo), for every code 0..L of every ok frame's
  // bounds: the spec states |difference| <= 2^-22 * max(|lo|, |hi|), and quotes the goldens' largest difference:
  // 1 ulp of that maximum, and 1.013e-5 of a step (rans_b8_3x5x13, q = 46).
  float worst_in_bound_ulps = 0;
  double worst_in_steps = 0;
  for (const auto& path : golden::list_files(kGolden / "ok", ".bin")) {
    INFO(path.filename().string());
    for (const auto& f : golden::read_sidecar(fs::path(path).replace_extension(".txt")).frames) {
      const float lo = f.header.lo, hi = f.header.hi;
      const float step = dequantize_step(lo, hi, f.header.bits);
      const float big = std::max(std::fabs(lo), std::fabs(hi));
      const float ulp_big = std::nextafter(big, INFINITY) - big;
      for (uint32_t q = 0; q < (1u << f.header.bits); ++q) {
        volatile float product = static_cast<float>(q) * step;  // volatile: no contraction into an FMA
        const float twice = lo + product;
        const float fused = std::fma(static_cast<float>(q), step, lo);
        const float diff = std::fabs(twice - fused);
        CHECK(diff <= 0x1p-22f * big);
        worst_in_bound_ulps = std::max(worst_in_bound_ulps, diff / ulp_big);
        worst_in_steps = std::max(worst_in_steps, double(diff) / double(step));
      }
    }
  }
  CHECK(worst_in_bound_ulps == 1.0f);  // the goldens do differ (1 ulp, e.g. b7_5x5x5 q = 95; the spec quotes it)
  CHECK(worst_in_steps > 1.01e-5);
  CHECK(worst_in_steps < 1.02e-5);
}

TEST_CASE("FMA reconstruction: bounds around zero differ by less than 2^-14 of a step", "[wire][golden]") {
  // The spec's second bound: when lo <= 0 <= hi, |difference| < 2^-22 * L * step < 2^-14 * step. Random bounds
  // (magnitudes 2^-20 .. 2^20 on each side), every b, every code.
  uint32_t state = 12345;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  for (int pair = 0; pair < 2000; ++pair) {
    const uint32_t r1 = next();
    const uint32_t r2 = next();
    const float lo = -std::ldexp(1.0f + float(r1 & 0xFFFFFF) * 0x1p-24f, int(r1 >> 24) % 41 - 20);
    const float hi = std::ldexp(1.0f + float(r2 & 0xFFFFFF) * 0x1p-24f, int(r2 >> 24) % 41 - 20);
    for (unsigned bits = 1; bits <= 8; ++bits) {
      const float step = dequantize_step(lo, hi, bits);
      for (uint32_t q = 0; q < (1u << bits); ++q) {
        volatile float product = static_cast<float>(q) * step;
        const float diff = std::fabs((lo + product) - std::fma(static_cast<float>(q), step, lo));
        if (!(diff < 0x1p-14f * step)) FAIL_CHECK("lo " << lo << " hi " << hi << " b " << bits << " q " << q);
      }
    }
  }
}

TEST_CASE("without a table set, every codec-1 frame is entropy_table_mismatch, before its payload is read",
          "[wire][golden]") {
  // docs/wire-format.md, validation step 16: a decoder holding no table set answers 38 without looking at the
  // payload, so err/16_rans_reserved_payload (reserved bytes set) gives 38 too.
  size_t codec1 = 0;
  for (const char* kind : {"ok", "err"}) {
    for (const auto& path : golden::list_files(kGolden / kind, ".bin")) {
      const auto data = golden::read_file(path);
      auto v = parse_frame(data.data(), data.size());
      if (!v || v->header.codec != Codec::rans) continue;
      INFO(path.filename().string());
      std::vector<float> out(size_t(v->header.channels) * v->header.height * v->header.width);
      CHECK(dequantize_frame(*v, out.data(), out.size(), nullptr).code() == Errc::entropy_table_mismatch);
      CHECK(decode_frame(data.data(), data.size(), out.data(), out.size()).code() == Errc::entropy_table_mismatch);
      ++codec1;
    }
  }
  CHECK(codec1 >= 12);
}

TEST_CASE("golden table files load or fail as their sidecars say", "[wire][golden]") {
  const auto files = golden::list_files(kGolden / "tables", ".safetensors");
  REQUIRE(files.size() >= 10);
  std::set<std::string> errors_seen;
  for (const auto& path : files) {
    INFO(path.filename().string());
    std::map<std::string, std::string> side;
    std::ifstream in(fs::path(path).replace_extension(".txt"));
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto space = line.find(' ');
      side[line.substr(0, space)] = line.substr(space + 1);
    }
    auto file = weights::SafeTensorsFile::open(path.string());
    REQUIRE(file.ok());  // the container is valid in every one: the errors are the table rules'
    auto t = weights::load_entropy_tables(*file);
    if (side.count("error")) {
      REQUIRE_FALSE(t.ok());
      CHECK(int(t.code()) == std::stoi(side.at("errc")));
      CHECK(golden::errc_name(t.code()) == side.at("error"));
      CHECK(std::stoi(path.filename().string().substr(0, 2)) == int(t.code()));
      errors_seen.insert(side.at("error"));
    } else {
      REQUIRE(t.ok());
      CHECK(t->id() == std::stoul(side.at("table_id")));
      CHECK(t->hash() == std::stoul(side.at("table_hash"), nullptr, 0));
      CHECK(t->channels() == std::stoul(side.at("channels")));
      std::string bits;
      for (unsigned b = 1; b <= 8; ++b)
        if (t->has(b)) bits += (bits.empty() ? "" : " ") + std::to_string(b);
      CHECK(bits == side.at("bits"));
    }
  }
  CHECK(errors_seen == std::set<std::string>{"format_invalid", "tensor_missing", "tensor_shape_mismatch",
                                             "tensor_dtype_mismatch", "entropy_table_invalid"});
}

TEST_CASE("golden err/ frames fail with their sidecar's error, in every reader", "[wire][golden]") {
  const auto files = golden::list_files(kGolden / "err", ".bin");
  std::set<int> codes_seen;
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto data = golden::read_file(path);
    const auto side = golden::read_sidecar(fs::path(path).replace_extension(".txt"));
    REQUIRE(side.errc > 0);
    codes_seen.insert(side.errc);
    size_t at = 0, frames = 0;
    Errc err = Errc::ok;
    bool parsed_all = true;
    while (at < data.size()) {
      auto v = parse_frame(data.data() + at, data.size() - at);
      if (!v) {
        err = v.code();
        break;
      }
      if (v->header.codec == Codec::rans) {  // codec-1 errors past the frame checks come from decoding
        if (auto codes = rans_codes(*v); !codes) {
          err = codes.code();
          parsed_all = false;
          break;
        }
      }
      at += v->frame_size;
      ++frames;
    }
    CHECK(int(err) == side.errc);
    CHECK(golden::errc_name(err) == side.error);
    CHECK(frames == side.frames_before_error);
    // The file name starts with the error number.
    CHECK(std::stoi(path.filename().string().substr(0, 2)) == side.errc);
    for (size_t chunk : {size_t{1}, size_t{7}, data.size()}) {
      if (!parsed_all) break;  // the stream parser does not decode payloads
      const auto [sframes, serr] = stream_decode(data, chunk);
      CHECK(int(serr) == side.errc);
      CHECK(sframes == side.frames_before_error);
    }
  }
  for (Errc e : {Errc::truncated, Errc::bad_magic, Errc::version_unsupported, Errc::reserved_nonzero,
                 Errc::header_size_invalid, Errc::header_crc_mismatch, Errc::bits_out_of_range,
                 Errc::ensemble_out_of_range, Errc::shape_out_of_range, Errc::bounds_invalid,
                 Errc::codec_unsupported, Errc::length_mismatch, Errc::length_too_large, Errc::crc_mismatch,
                 Errc::entropy_table_mismatch, Errc::entropy_stream_invalid}) {
    INFO("no golden err/ frame for error " << int(e));
    CHECK(codes_seen.count(int(e)) == 1);
  }
}

TEST_CASE("the hex dump in docs/wire-format.md is golden/ok/b1_1x1x3.bin", "[wire][golden]") {
  std::ifstream spec(fs::path(SLIMCODEC_TEST_DATA_DIR) / ".." / "docs" / "wire-format.md");
  REQUIRE(spec.good());
  // Lines between the markers look like "0000  53 4C 4D 43 ...  | comment".
  std::vector<uint8_t> dumped;
  bool inside = false;
  for (std::string line; std::getline(spec, line);) {
    if (line.find("<!-- hexdump b1_1x1x3 begin -->") != std::string::npos) inside = true;
    else if (line.find("<!-- hexdump b1_1x1x3 end -->") != std::string::npos) inside = false;
    else if (inside && line.size() > 6 && std::isxdigit(static_cast<unsigned char>(line[0]))) {
      std::istringstream words(line.substr(6, line.find('|') == std::string::npos ? std::string::npos
                                                                                 : line.find('|') - 6));
      for (std::string w; words >> w;) dumped.push_back(uint8_t(std::stoul(w, nullptr, 16)));
    }
  }
  CHECK(dumped == golden::read_file(kGolden / "ok" / "b1_1x1x3.bin"));
}
