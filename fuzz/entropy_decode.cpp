// Fuzz target: the codec-1 entropy decoder with hostile tables and hostile streams. The input supplies b, C,
// H*W, one frequency table per channel (built as given, else repaired by fitting so the stream is still
// decoded) and the payload bytes. Decoding must never read or write out of bounds (ASan, exact-size buffers),
// must end (one step per code), and a stream it accepts must be the one the encoder writes for those codes.
// Frames (golden files) are also decoded whole with the golden-shaped tables when they parse.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_check.hpp"
#include <slimcodec/codec.hpp>
#include <slimcodec/entropy/entropy.hpp>

using namespace slimcodec;
using namespace slimcodec::entropy;
using fuzz::require;

namespace {

struct Bytes {
  const uint8_t* p;
  size_t n;
  uint8_t u8() { return n ? (--n, *p++) : 0; }
  uint16_t u16() {
    const uint16_t lo = u8();
    return uint16_t(lo | (uint16_t{u8()} << 8));
  }
};

void decode_whole_frame(const uint8_t* data, size_t size) {
  auto f = wire::parse_frame(data, size);
  if (!f || f->header.codec != wire::Codec::rans) return;
  const auto& h = f->header;
  const size_t n = size_t(h.channels) * h.height * h.width;
  if (n > (size_t{1} << 16)) return;
  // A flat table set of the frame's shape: the id and hash will not match, which must be caught first.
  std::vector<uint16_t> flat(size_t(h.channels) << h.bits, uint16_t(kPrecision >> h.bits));
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[h.bits] = flat.data();
  auto t = TableSet::create(0, h.channels, fr);
  require(t.ok(), "flat table rejected");
  std::unique_ptr<float[]> out(new float[n]);
  const auto r = dequantize_frame(*f, out.get(), n, &*t);
  require(!r.ok() || *r == n, "dequantize_frame returned a wrong count");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode_whole_frame(data, size);
  Bytes in{data, size};
  const unsigned bits = 1 + in.u8() % 8;
  const unsigned channels = 1 + in.u8() % 4;
  const size_t plane = 1 + in.u16() % 700;
  const size_t m = size_t{1} << bits;
  std::vector<uint16_t> freq(channels * m);
  for (auto& f : freq) f = in.u16();
  const uint16_t* fr[kMaxBits + 1] = {};
  fr[bits] = freq.data();
  auto tables = TableSet::create(in.u16(), channels, fr);
  if (!tables) {
    require(tables.code() == Errc::entropy_table_invalid, "hostile table: wrong error");
    // Repair: fit a valid table to the hostile numbers, so the stream below is still decoded.
    std::vector<uint64_t> counts(m);
    for (unsigned c = 0; c < channels; ++c) {
      for (size_t s = 0; s < m; ++s) counts[s] = freq[c * m + s];
      fit_frequencies(counts.data(), bits, freq.data() + c * m);
      require(check_frequencies(freq.data() + c * m, bits).ok(), "fitted table invalid");
    }
    tables = TableSet::create(0, channels, fr);
    require(tables.ok(), "repaired table rejected");
  }
  // The rest is the payload; give it the right table id and hash half of the time.
  std::vector<uint8_t> payload(in.p, in.p + in.n);
  if (payload.size() >= kPayloadHeaderSize && (payload[1] & 1)) {
    slimcodec::store_le16(payload.data(), tables->id());
    slimcodec::store_le16(payload.data() + 2, 0);
    slimcodec::store_le32(payload.data() + 4, tables->hash());
  }
  const size_t n = channels * plane;
  std::unique_ptr<uint8_t[]> heap_payload(new uint8_t[payload.size() + 1]);  // exact size for ASan
  if (!payload.empty()) std::memcpy(heap_payload.get(), payload.data(), payload.size());
  std::unique_ptr<uint8_t[]> codes(new uint8_t[n]);
  const auto r = decode_payload(heap_payload.get(), payload.size(), bits, channels, plane, *tables, codes.get(), n);
  if (!r) {
    const Errc e = r.code();
    require(e == Errc::length_mismatch || e == Errc::reserved_nonzero || e == Errc::entropy_table_mismatch ||
                e == Errc::entropy_stream_invalid,
            "decode_payload: unexpected error");
    return 0;
  }
  for (size_t i = 0; i < n; ++i) require(codes[i] < m, "decoded code above 2^b - 1");
  // An accepted stream is canonical: the encoder writes exactly these bytes for these codes.
  std::vector<uint8_t> again(payload.size() + 64);
  auto w = encode_payload(codes.get(), channels, plane, bits, *tables, again.data(), again.size());
  require(w.ok() && *w == payload.size() && std::memcmp(again.data(), payload.data(), payload.size()) == 0,
          "accepted stream differs from the encoder's");
  return 0;
}
