// Replies (wire/reply.hpp, docs/wire-format.md "Reply"): the golden files decode as their sidecars say, or fail
// with the error they name after the stated number of replies; write_reply() reproduces every ok file byte for
// byte; round trips with detections; every single-byte corruption of a reply is refused.
#include <slimcodec/wire/reply.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::wire;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// key -> value text, from "key value..." lines; '#' lines are comments.
std::map<std::string, std::string> read_sidecar(const fs::path& p) {
  std::map<std::string, std::string> out;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    out[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return out;
}

std::vector<fs::path> golden(const char* kind) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(SLIMCODEC_GOLDEN_REPLIES) / kind))
    if (e.path().extension() == ".bin") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

Reply sample(uint16_t count) {
  Reply r;
  r.frame_id = 0xDEADBEEF;
  r.decode_us = 1234;
  r.timestamp_us = 0x0102030405060708ull;
  r.digest = 0xFEDCBA9876543210ull;
  r.out_channels = 84;
  r.out_height = 128;
  r.out_width = 127;
  r.detection_count = count;
  for (uint16_t i = 0; i < count; ++i) r.detections[i] = {uint16_t(i % 80), 0.9f - 0.001f * i, 1.5f * i, -2.f, 3.f + i, 4.25f};
  return r;
}

}  // namespace

TEST_CASE("golden ok replies decode as their sidecars say and write_reply reproduces them") {
  const auto files = golden("ok");
  REQUIRE(files.size() >= 6);
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto bytes = read_bytes(path);
    auto side = read_sidecar(fs::path(path).replace_extension(".txt"));
    const size_t replies = std::stoul(side.at("replies"));
    size_t at = 0;
    for (size_t k = 0; k < replies; ++k) {
      const std::string p = std::to_string(k) + ".";
      auto r = parse_reply(bytes.data() + at, bytes.size() - at);
      REQUIRE(r);
      REQUIRE(unsigned(r->status) == std::stoul(side.at(p + "status")));
      REQUIRE(r->frame_id == std::stoul(side.at(p + "frame_id")));
      REQUIRE(r->decode_us == std::stoul(side.at(p + "decode_us")));
      REQUIRE(r->timestamp_us == std::stoull(side.at(p + "timestamp_us")));
      REQUIRE(r->digest == std::stoull(side.at(p + "digest")));
      std::istringstream shape(side.at(p + "out_shape"));
      unsigned c = 0, h = 0, w = 0;
      shape >> c >> h >> w;
      REQUIRE((r->out_channels == c && r->out_height == h && r->out_width == w));
      REQUIRE(r->detection_count == std::stoul(side.at(p + "detection_count")));
      for (size_t i = 0; i < r->detection_count; ++i) {
        std::istringstream d(side.at(p + "detection." + std::to_string(i)));
        unsigned cls = 0;
        double score = 0, x1 = 0, y1 = 0, x2 = 0, y2 = 0;
        d >> cls >> score >> x1 >> y1 >> x2 >> y2;
        const Detection& got = r->detections[i];
        REQUIRE(got.class_id == cls);
        REQUIRE(got.score == float(score));  // the goldens use exactly representable values
        REQUIRE((got.x1 == float(x1) && got.y1 == float(y1) && got.x2 == float(x2) && got.y2 == float(y2)));
      }
      const ReplyBytes again = write_reply(*r);
      REQUIRE(again.size() == reply_size(r->detection_count));
      REQUIRE(std::equal(again.begin(), again.end(), bytes.begin() + long(at)));
      at += again.size();
    }
    REQUIRE(at == bytes.size());
  }
}

TEST_CASE("golden err replies fail with the error their sidecars name, after the stated replies") {
  const auto files = golden("err");
  REQUIRE(files.size() >= 15);
  for (const auto& path : files) {
    INFO(path.filename().string());
    const auto bytes = read_bytes(path);
    auto side = read_sidecar(fs::path(path).replace_extension(".txt"));
    size_t at = 0, decoded = 0;
    Errc error = Errc::ok;
    while (at < bytes.size()) {
      auto r = parse_reply(bytes.data() + at, bytes.size() - at);
      if (!r) {
        error = r.code();
        break;
      }
      at += reply_size(r->detection_count);
      ++decoded;
    }
    REQUIRE(decoded == std::stoul(side.at("replies_before_error")));
    REQUIRE(unsigned(error) == std::stoul(side.at("errc")));
  }
}

TEST_CASE("a whole-buffer reader and a stream reader (head, then the rest) agree on every prefix of every golden") {
  // The stream reader reads kReplyHeadSize bytes, sizes the reply with peek_reply_size, then reads the rest and
  // parses; the end of the input before that is truncated. parse_reply on the same bytes must say the same.
  auto stream_read = [](const std::vector<uint8_t>& b, size_t n) -> Errc {
    if (n < kReplyHeadSize) return Errc::truncated;
    auto size = peek_reply_size(b.data(), kReplyHeadSize);
    if (!size) return size.code();
    if (n < *size) return Errc::truncated;
    auto r = parse_reply(b.data(), *size);
    return r ? Errc::ok : r.code();
  };
  size_t head_errors = 0;
  for (const char* kind : {"ok", "err"}) {
    for (const auto& path : golden(kind)) {
      const auto bytes = read_bytes(path);
      for (size_t n = 0; n <= std::min(bytes.size(), size_t{kReplyMaxSize}); ++n) {
        INFO(path.filename().string() << ", first " << n << " bytes");
        auto whole = parse_reply(n ? bytes.data() : nullptr, n);
        const Errc want = stream_read(bytes, n);
        REQUIRE((whole ? Errc::ok : whole.code()) == want);
        head_errors += n >= kReplyHeadSize && n < kReplySize && want != Errc::truncated;
      }
    }
  }
  CHECK(head_errors > 0);  // 40-43 bytes whose head is bad: the head's error, not truncated
}

TEST_CASE("replies with detections round-trip; sizes are peeked from the head") {
  for (uint16_t count : {uint16_t(0), uint16_t(1), uint16_t(37), uint16_t(kMaxDetections)}) {
    INFO(count);
    const Reply r = sample(count);
    const ReplyBytes bytes = write_reply(r);
    REQUIRE(bytes.size() == 44 + 24 * size_t(count));
    REQUIRE(bytes[4] == kReplyVersion);
    REQUIRE(*peek_reply_size(bytes.data(), kReplyHeadSize) == bytes.size());
    REQUIRE(peek_reply_size(bytes.data(), kReplyHeadSize - 1).code() == Errc::truncated);
    auto back = parse_reply(bytes.data(), bytes.size());
    REQUIRE(back);
    REQUIRE(back->frame_id == r.frame_id);
    REQUIRE(back->timestamp_us == r.timestamp_us);
    REQUIRE(back->out_width == 127);
    REQUIRE(back->detection_count == count);
    for (size_t i = 0; i < count; ++i) {
      REQUIRE(back->detections[i].class_id == r.detections[i].class_id);
      REQUIRE(back->detections[i].score == r.detections[i].score);
      REQUIRE(back->detections[i].x1 == r.detections[i].x1);
      REQUIRE(back->detections[i].y2 == r.detections[i].y2);
    }
    REQUIRE(parse_reply(bytes.data(), bytes.size() - 1).code() == Errc::truncated);
  }
  // An error status sends an empty result section, whatever the struct holds.
  Reply failed = sample(5);
  failed.status = Errc::backend_failed;
  const ReplyBytes b = write_reply(failed);
  REQUIRE(b.size() == kReplySize);
  REQUIRE(parse_reply(b.data(), b.size())->detection_count == 0);
}

TEST_CASE("every single-byte corruption of a reply is refused") {
  const ReplyBytes bytes = write_reply(sample(3));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t flip : {uint8_t(0x01), uint8_t(0x10), uint8_t(0x80)}) {
      ReplyBytes corrupt = bytes;
      corrupt[i] ^= flip;
      INFO("byte " << i << " ^ " << unsigned(flip));
      REQUIRE_FALSE(parse_reply(corrupt.data(), corrupt.size()));
    }
  }
}
