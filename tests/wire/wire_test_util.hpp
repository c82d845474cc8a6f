// Helpers shared by the wire tests: build valid frames from codes, patch header bytes, pick random headers.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "ref_pack.hpp"
#include <slimcodec/wire/wire.hpp>

namespace slimcodec::wire::test {

inline FrameHeader make_header(unsigned c, unsigned h, unsigned w, unsigned bits, unsigned s = 1) {
  FrameHeader hd;
  hd.channels = uint16_t(c);
  hd.height = uint16_t(h);
  hd.width = uint16_t(w);
  hd.bits = uint8_t(bits);
  hd.ensemble_size = uint8_t(s);
  hd.payload_size = uint32_t(expected_payload_size(hd));
  return hd;
}

inline std::vector<uint8_t> random_codes(size_t n, unsigned bits, std::mt19937& rng) {
  std::vector<uint8_t> q(n);
  for (auto& v : q) v = uint8_t(rng() & ((1u << bits) - 1));
  return q;
}

inline std::vector<uint8_t> pack(const std::vector<uint8_t>& codes, unsigned bits) {
  std::vector<uint8_t> out(raw_bitpack_size(codes.size(), bits));
  ref::pack_codes(codes.data(), codes.size(), bits, out.data());
  return out;
}

// A complete valid frame for header h carrying the given codes.
inline std::vector<uint8_t> make_frame(const FrameHeader& h, const std::vector<uint8_t>& codes) {
  const auto payload = pack(codes, h.bits);
  std::vector<uint8_t> out(kHeaderSize + payload.size() + kTrailerSize);
  auto n = write_frame(h, payload.data(), out.data(), out.size());
  if (!n || *n != out.size()) out.clear();
  return out;
}

// Sets header byte `at` and, if fix_crc, recomputes the header CRC (the frame CRC is always recomputed when
// the frame is long enough, so only the intended check can fail).
inline void patch(std::vector<uint8_t>& f, size_t at, uint8_t value, bool fix_crc = true) {
  f[at] = value;
  if (fix_crc && f.size() >= kHeaderSize) store_le32(f.data() + offset::kHeaderCrc, crc32c(f.data(), 44));
  if (f.size() >= kHeaderSize + kTrailerSize) {
    const size_t body = f.size() - kTrailerSize;
    store_le32(f.data() + body, crc32c(f.data(), body));
  }
}

inline uint64_t random_u64(std::mt19937& rng) {
  const uint64_t high = rng();
  return high << 32 | rng();
}

// A random valid header with a small payload (<= 2 KiB), for stream and mutation tests.
inline FrameHeader random_small_header(std::mt19937& rng) {
  // One draw per statement: argument evaluation order is unspecified, and the tests must not depend on it.
  std::uniform_int_distribution<unsigned> bits(1, 8), s(1, 16), dim(1, 12), mode(0, 2);
  const unsigned c = dim(rng), hgt = dim(rng), w = dim(rng), b = bits(rng), size = s(rng);
  FrameHeader h = make_header(c, hgt, w, b, size);
  h.bound_mode = BoundMode(mode(rng));
  h.lo = -float(dim(rng)) * 0.25f;
  h.hi = float(dim(rng)) * 0.5f;
  h.frame_id = uint32_t(rng());
  h.timestamp_us = random_u64(rng);
  return h;
}

inline bool same_header(const FrameHeader& a, const FrameHeader& b) {
  return a.bound_mode == b.bound_mode && a.codec == b.codec && a.ensemble_size == b.ensemble_size &&
         a.bits == b.bits && a.channels == b.channels && a.height == b.height && a.width == b.width &&
         bits_from_float(a.lo) == bits_from_float(b.lo) && bits_from_float(a.hi) == bits_from_float(b.hi) &&
         a.frame_id == b.frame_id && a.timestamp_us == b.timestamp_us && a.payload_size == b.payload_size;
}

}  // namespace slimcodec::wire::test
