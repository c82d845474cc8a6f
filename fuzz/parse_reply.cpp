// Fuzz target: parse_reply over a whole buffer, reply after reply, as a device reading a reply stream would.
// Every accepted reply must lie inside the input, agree with peek_reply_size(), carry only valid detections
// (score in [0, 1], finite boxes, none on error) and re-encode with write_reply() to exactly its own bytes.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include <slimcodec/wire/reply.hpp>

using namespace slimcodec;
using namespace slimcodec::wire;
using fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t at = 0;
  while (at < size) {
    const auto r = parse_reply(data + at, size - at);
    if (!r) {
      require(r.code() != Errc::ok, "error result carries Errc::ok");
      break;
    }
    const size_t n = reply_size(r->detection_count);
    require(r->detection_count <= kMaxDetections, "more detections than the format allows");
    require(n <= size - at, "reply extends past the input");
    const auto peeked = peek_reply_size(data + at, size - at);
    require(peeked && *peeked == n, "peek_reply_size disagrees with parse_reply");
    require(r->status == Errc::ok || r->detection_count == 0, "an error reply carries detections");
    for (size_t i = 0; i < r->detection_count; ++i) {
      const Detection& d = r->detections[i];
      require(d.score >= 0.f && d.score <= 1.f, "score outside [0, 1]");
      require(std::isfinite(d.x1) && std::isfinite(d.y1) && std::isfinite(d.x2) && std::isfinite(d.y2), "box not finite");
    }
    const ReplyBytes again = write_reply(*r);
    require(again.size() == n && std::equal(again.begin(), again.end(), data + at), "accepted reply is not canonical");
    at += n;
  }
  return 0;
}
