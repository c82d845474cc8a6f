// Codec 1 payload: static-model rANS over the b-bit codes, 8 interleaved 32-bit states, 16-bit renormalization,
// 12-bit frequencies (docs/wire-format.md, "Payload: rANS codec"). Integer-only, so every platform writes and
// reads the same bytes. Decoding writes codes into a caller buffer, allocates nothing, checks every read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "slimcodec/common/result.hpp"
#include "slimcodec/entropy/tables.hpp"
#include "slimcodec/common/byte_order.hpp"
#include "slimcodec/wire/frame.hpp"

namespace slimcodec::entropy {

inline constexpr unsigned kStates = 8;                 // interleaved states; code i uses state i mod 8
inline constexpr uint32_t kStateLow = 1u << 15;        // states live in [2^15, 2^31)
inline constexpr uint32_t kStateHigh = 1u << 31;
inline constexpr size_t kPayloadHeaderSize = 8 + 4 * kStates;  // table_id, reserved, table_hash, states: 40

// Byte offsets inside a codec-1 payload.
namespace payload_offset {
inline constexpr size_t kTableId = 0, kReserved = 2, kTableHash = 4, kStates = 8, kWords = 40;
}  // namespace payload_offset

static_assert(kPayloadHeaderSize == wire::kRansPayloadHeader, "wire/frame.hpp's codec-1 length rule");
static_assert(kMaxChannels == wire::kMaxChannels && kMaxBits == wire::kMaxBits, "the frame's limits");

namespace detail {

// x -> (x / f) << 12 | x mod f, plus cum, via the reciprocal (state below 2^31).
inline uint32_t enc_put(uint32_t x, const EncSymbol& s) noexcept {
  const uint32_t q = static_cast<uint32_t>((uint64_t{x} * s.rcp_freq) >> 32) >> s.rcp_shift;
  return x + s.bias + q * s.cmpl_freq;
}

}  // namespace detail

// ------------------------------ encode
// Codes codes[0, channels * plane) (CHW: code i belongs to channel i / plane) with the set's tables for `bits`
// and writes a whole codec-1 payload to out[0, cap). Returns its size; buffer_too_small when it does not fit
// (the frame writer then sends codec 0). Errors: entropy_table_mismatch (no table for bits or another channel
// count), invalid_argument (null pointer, a code >= 2^bits).
inline Result<size_t> encode_payload(const uint8_t* codes, size_t channels, size_t plane, unsigned bits,
                                     const TableSet& tables, uint8_t* out, size_t cap) noexcept {
  if (!tables.has(bits) || tables.channels() != channels)
    return Error{Errc::entropy_table_mismatch, "no table for this b and channel count"};
  if (plane != 0 && channels > SIZE_MAX / plane) return Error{Errc::invalid_argument, "C * H * W overflows"};
  const size_t n = channels * plane;
  if ((codes == nullptr && n > 0) || out == nullptr) return Error{Errc::invalid_argument, "null buffer"};
  if (cap < kPayloadHeaderSize) return Errc::buffer_too_small;
  // Words are written backwards from the end of the buffer, then moved down behind the header.
  uint8_t* const words_end = out + kPayloadHeaderSize + (cap - kPayloadHeaderSize) / 2 * 2;
  uint8_t* w = words_end;
  uint8_t* const words_begin = out + kPayloadHeaderSize;
  const uint32_t limit = alphabet_size(bits);
  uint32_t x[kStates];
  for (uint32_t& s : x) s = kStateLow;
  for (size_t c = channels; c-- > 0;) {
    const EncSymbol* sym = tables.encoder(bits, static_cast<unsigned>(c));
    for (size_t i = (c + 1) * plane; i-- > c * plane;) {
      const uint32_t q = codes[i];
      if (q >= limit) return Error{Errc::invalid_argument, "code above 2^b - 1"};
      const EncSymbol& s = sym[q];
      uint32_t& st = x[i % kStates];
      if (st >= s.x_max) {
        if (w == words_begin) return Errc::buffer_too_small;
        w -= 2;
        slimcodec::store_le16(w, static_cast<uint16_t>(st & 0xFFFF));
        st >>= 16;
      }
      st = detail::enc_put(st, s);
    }
  }
  const size_t word_bytes = static_cast<size_t>(words_end - w);
  std::memmove(words_begin, w, word_bytes);
  slimcodec::store_le16(out + payload_offset::kTableId, tables.id());
  slimcodec::store_le16(out + payload_offset::kReserved, 0);
  slimcodec::store_le32(out + payload_offset::kTableHash, tables.hash());
  for (unsigned j = 0; j < kStates; ++j) slimcodec::store_le32(out + payload_offset::kStates + 4 * j, x[j]);
  return kPayloadHeaderSize + word_bytes;
}

// ------------------------------ decode
// GCC's SLP vectorizer packs the 8 independent state updates into vector registers and extracts them again,
// which is slower than scalar code; keep the decode loop scalar.
#if defined(__GNUC__) && !defined(__clang__)
#define SLIMCODEC_RANS_SCALAR_LOOP __attribute__((optimize("no-tree-slp-vectorize", "no-tree-vectorize")))
#else
#define SLIMCODEC_RANS_SCALAR_LOOP
#endif

namespace detail {

// One symbol: look up slot x mod 2^12, step the state, refill 16 bits when it fell below 2^15.
// The caller guarantees two readable bytes at p.
inline uint8_t dec_step(uint32_t& x, const uint32_t* tab, const uint8_t*& p) noexcept {
  const uint32_t e = tab[x & (kPrecision - 1)];
  uint32_t s = dec_freq(e) * (x >> kPrecisionBits) + dec_bias(e);
  // Branch-free: refill is taken about half the time at high b, so a branch would mispredict (GCC emits one
  // for the plain ?: here, hence the conditional move spelled out on x86-64).
  const uint32_t refilled = (s << 16) | slimcodec::load_le16(p);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  uint64_t step = 0;  // 1 when refilled: the carry of the same comparison
  __asm__("cmpl %[low], %[s]\n\tcmovbl %[r], %[s]\n\tadcq $0, %[step]"
          : [s] "+r"(s), [step] "+r"(step)
          : [r] "r"(refilled), [low] "i"(kStateLow)
          : "cc");
  p += 2 * step;
#else
  p += s < kStateLow ? 2 : 0;
  s = s < kStateLow ? refilled : s;
#endif
  x = s;
  return static_cast<uint8_t>(e);
}

// Codes [a, e) with one table; false when the stream runs out of words. The read position lives in a local:
// through a reference, every code stored (uint8_t may alias anything) would force it back to memory.
SLIMCODEC_RANS_SCALAR_LOOP inline bool dec_run(const uint32_t* tab, uint32_t* x, size_t a, size_t e,
                                               const uint8_t*& pos, const uint8_t* end, uint8_t* codes) noexcept {
  const uint8_t* p = pos;
  size_t i = a;
  // Checked, one symbol at a time, up to a multiple of 8 (a channel may start mid-block).
  if (i % kStates != 0) {
    for (; i < e && i % kStates != 0; ++i) {
      const uint32_t en = tab[x[i % kStates] & (kPrecision - 1)];
      uint32_t s = dec_freq(en) * (x[i % kStates] >> kPrecisionBits) + dec_bias(en);
      if (s < kStateLow) {
        if (end - p < 2) return false;
        s = (s << 16) | slimcodec::load_le16(p);
        p += 2;
      }
      x[i % kStates] = s;
      codes[i] = static_cast<uint8_t>(en);
    }
  }
  // Unchecked blocks of 8 symbols, one per state, while 8 words (the most a block reads) remain.
  uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
  while (e - i >= kStates && end - p >= static_cast<ptrdiff_t>(2 * kStates)) {
    uint8_t* o = codes + i;
    o[0] = dec_step(x0, tab, p);
    o[1] = dec_step(x1, tab, p);
    o[2] = dec_step(x2, tab, p);
    o[3] = dec_step(x3, tab, p);
    o[4] = dec_step(x4, tab, p);
    o[5] = dec_step(x5, tab, p);
    o[6] = dec_step(x6, tab, p);
    o[7] = dec_step(x7, tab, p);
    i += kStates;
  }
  x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3, x[4] = x4, x[5] = x5, x[6] = x6, x[7] = x7;
  // Tail (and the last words of the stream): checked one symbol at a time.
  for (; i < e; ++i) {
    uint32_t& st = x[i % kStates];
    const uint32_t en = tab[st & (kPrecision - 1)];
    uint32_t s = dec_freq(en) * (st >> kPrecisionBits) + dec_bias(en);
    if (s < kStateLow) {
      if (end - p < 2) return false;
      s = (s << 16) | slimcodec::load_le16(p);
      p += 2;
    }
    st = s;
    codes[i] = static_cast<uint8_t>(en);
  }
  pos = p;
  return true;
}

}  // namespace detail

// Checks the payload's table id, hash and reserved bytes against `tables` (entropy_table_mismatch,
// reserved_nonzero); needs payload_size >= 40 (length_mismatch otherwise).
inline Result<void> check_payload_tables(const uint8_t* payload, size_t size, unsigned bits, size_t channels,
                                         const TableSet& tables) noexcept {
  if (payload == nullptr || size < kPayloadHeaderSize || size % 2 != 0) return Errc::length_mismatch;
  if (slimcodec::load_le16(payload + payload_offset::kReserved) != 0)
    return Error{Errc::reserved_nonzero, "codec-1 payload bytes 2-3 are reserved"};
  if (slimcodec::load_le16(payload + payload_offset::kTableId) != tables.id() ||
      slimcodec::load_le32(payload + payload_offset::kTableHash) != tables.hash())
    return Error{Errc::entropy_table_mismatch, "table id or hash differs from the loaded tables"};
  if (!tables.has(bits) || tables.channels() != channels || !tables.has_decoder())
    return Error{Errc::entropy_table_mismatch, "the loaded tables have no decoder table for this b and C"};
  return {};
}

// Decodes a whole codec-1 payload into codes[0, channels * plane), which must fit in cap bytes. Errors in the
// spec's order: length_mismatch, reserved_nonzero, entropy_table_mismatch, then entropy_stream_invalid (a
// state outside [2^15, 2^31), the words run out, words left over, or a final state other than 2^15).
// buffer_too_small when cap < channels * plane. Reads only payload[0, size), writes only codes[0, n).
inline Result<void> decode_payload(const uint8_t* payload, size_t size, unsigned bits, size_t channels, size_t plane,
                                   const TableSet& tables, uint8_t* codes, size_t cap) noexcept {
  if (auto ok = check_payload_tables(payload, size, bits, channels, tables); !ok) return ok;
  if (plane != 0 && channels > SIZE_MAX / plane) return Errc::buffer_too_small;  // 32-bit hosts, huge shapes
  const size_t n = channels * plane;
  if (cap < n || (codes == nullptr && n > 0)) return Errc::buffer_too_small;
  uint32_t x[kStates];
  for (unsigned j = 0; j < kStates; ++j) {
    x[j] = slimcodec::load_le32(payload + payload_offset::kStates + 4 * j);
    if (x[j] < kStateLow || x[j] >= kStateHigh)
      return Error{Errc::entropy_stream_invalid, "initial state outside [2^15, 2^31)"};
  }
  const uint8_t* p = payload + kPayloadHeaderSize;
  const uint8_t* const end = payload + size;
  for (size_t c = 0; c < channels; ++c) {
    if (!detail::dec_run(tables.decoder(bits, static_cast<unsigned>(c)), x, c * plane, (c + 1) * plane, p, end, codes))
      return Error{Errc::entropy_stream_invalid, "stream ends before the last code"};
  }
  if (p != end) return Error{Errc::entropy_stream_invalid, "words left after the last code"};
  for (uint32_t s : x)
    if (s != kStateLow) return Error{Errc::entropy_stream_invalid, "final state is not 2^15"};
  return {};
}

}  // namespace slimcodec::entropy
