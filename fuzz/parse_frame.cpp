// Fuzz target: parse_frame over a whole buffer, frame after frame, as a datagram receiver would.
// Every accepted frame must pass validate(), lie inside the input and re-encode to its own header bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include <slimcodec/wire/wire.hpp>

using namespace slimcodec;
using namespace slimcodec::wire;
using fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
#if defined(SLIMCODEC_CRC32C_SSE42) || defined(SLIMCODEC_CRC32C_ARMV8)
  require(crc32c_hw(data, size, 0x9E3779B9u) == crc32c_sw(data, size, 0x9E3779B9u), "hardware CRC != reference");
#endif
  size_t at = 0;
  while (at < size) {
    const auto v = parse_frame(data + at, size - at);
    if (!v) {
      require(v.code() != Errc::ok, "error result carries Errc::ok");
      break;
    }
    require(validate(v->header).ok(), "accepted header fails validate()");
    require(v->frame_size == frame_size(v->header), "frame_size disagrees with the header");
    require(v->frame_size <= size - at, "frame extends past the input");
    require(v->payload == data + at + kHeaderSize && v->payload_size == v->header.payload_size,
            "payload is not where the format puts it");
    uint8_t again[kHeaderSize];
    encode_header(v->header, again);
    require(std::equal(again, again + kHeaderSize, data + at), "accepted header is not canonical");
    // Reads every payload byte, so ASan checks the range; the CRC must be the one the parser checked.
    const size_t body = kHeaderSize + v->payload_size;
    require(crc32c(data + at, body) == load_le32(data + at + body), "accepted frame has a wrong CRC");
    at += v->frame_size;
  }
  return 0;
}
