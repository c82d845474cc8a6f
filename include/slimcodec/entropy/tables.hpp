// Static frequency tables for codec 1 (docs/wire-format.md, "Payload: rANS codec"): one table per (b, channel),
// 2^b frequencies summing to 2^12, none zero. A TableSet is validated once when built (hostile tables are
// typed errors), named by an id and the CRC-32C of its canonical bytes, and owns the encoder and decoder
// lookup tables so the frame path never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/layout.hpp"
#include "slimcodec/common/crc32c.hpp"

namespace slimcodec::entropy {

inline constexpr unsigned kPrecisionBits = 12;               // frequencies sum to 2^12
inline constexpr uint32_t kPrecision = 1u << kPrecisionBits;  // 4096
using quant::kMaxBits;  // alphabet 2^b <= 256
using quant::kMinBits;
inline constexpr unsigned kMaxChannels = 1024;               // the frame format's channel limit

constexpr uint32_t alphabet_size(unsigned bits) noexcept { return 1u << bits; }

// Encoder entry of one symbol: the reciprocal form of x -> (x / f) * 2^12 + x mod f + cum (ryg's rans_byte.h),
// exact for every state below 2^31.
struct EncSymbol {
  uint32_t x_max = 0;      // renormalize (emit 16 bits) while the state is at least this
  uint32_t rcp_freq = 0;   // ceil(2^(shift+31) / f), or 2^32 - 1 for f = 1
  uint32_t bias = 0;       // cum, or cum + 2^12 - 1 for f = 1
  uint16_t cmpl_freq = 0;  // 2^12 - f
  uint16_t rcp_shift = 0;  // shift - 1 with shift = ceil(log2 f), or 0 for f = 1
};

// Decoder entry of one slot (x mod 2^12): symbol in bits 0-7, slot - cum in bits 8-19, f in bits 20-31
// (f <= 4095: every table has at least two symbols of frequency >= 1).
constexpr uint32_t dec_entry(uint32_t symbol, uint32_t freq, uint32_t bias) noexcept {
  return symbol | (bias << 8) | (freq << 20);
}
constexpr uint32_t dec_freq(uint32_t entry) noexcept { return entry >> 20; }
constexpr uint32_t dec_bias(uint32_t entry) noexcept { return (entry >> 8) & 0xFFF; }

// Checks one table: exactly 2^b frequencies, each >= 1, summing to 2^12.
inline Result<void> check_frequencies(const uint16_t* freq, unsigned bits) noexcept {
  if (!quant::bits_valid(bits)) return Errc::bits_out_of_range;
  if (freq == nullptr) return Error{Errc::invalid_argument, "null frequency table"};
  uint32_t sum = 0;
  for (uint32_t s = 0; s < alphabet_size(bits); ++s) {
    if (freq[s] == 0) return Error{Errc::entropy_table_invalid, "a frequency is zero (every code must stay decodable)"};
    sum += freq[s];
  }
  if (sum != kPrecision) return Error{Errc::entropy_table_invalid, "frequencies do not sum to 4096"};
  return {};
}

// Fits one table to symbol counts: every symbol gets 1, the other 4096 - 2^b slots are shared in proportion to
// the counts, largest remainders first (ties to the lower symbol). Integer-only, so every platform fits the
// same table. All-zero counts give the uniform table.
inline void fit_frequencies(const uint64_t* counts, unsigned bits, uint16_t* freq) noexcept {
  const uint32_t m = alphabet_size(bits);
  const uint64_t spare = kPrecision - m;
  uint64_t total = 0;
  for (uint32_t s = 0; s < m; ++s) total += counts[s];
  if (total == 0) {
    for (uint32_t s = 0; s < m; ++s) freq[s] = static_cast<uint16_t>(kPrecision / m);
    return;
  }
  // Scale counts down so count * spare cannot overflow 64 bits (spare < 2^12).
  unsigned shift = 0;
  while ((total >> shift) >= (uint64_t{1} << 50)) ++shift;
  uint64_t scaled[256], rem[256], t = 0;
  for (uint32_t s = 0; s < m; ++s) t += scaled[s] = counts[s] >> shift;
  if (t == 0) t = 1;
  uint64_t given = 0;
  for (uint32_t s = 0; s < m; ++s) {
    const uint64_t share = scaled[s] * spare;
    freq[s] = static_cast<uint16_t>(1 + share / t);
    rem[s] = share % t;
    given += share / t;
  }
  for (uint64_t left = spare - given; left > 0; --left) {  // at most m - 1 rounds
    uint32_t best = 0;
    for (uint32_t s = 1; s < m; ++s)
      if (rem[s] > rem[best]) best = s;
    ++freq[best];
    rem[best] = 0;
  }
}

// ------------------------------ TableSet
// The tables of one model: an id, a channel count and, for each b it covers, channels x 2^b frequencies
// (channel-major). hash() is CRC-32C of the canonical bytes: for each covered b in increasing order, the byte
// b, the channel count as u16 LE, then every frequency as u16 LE.
class TableSet {
 public:
  TableSet() = default;

  // freqs[b] points at channels * 2^b frequencies for each covered b (1..8), nullptr for the others.
  // with_decoder = false skips the decoder tables (16 KiB per (b, channel)) on a device that only encodes.
  static Result<TableSet> create(uint16_t id, unsigned channels, const uint16_t* const freqs[kMaxBits + 1],
                                 bool with_decoder = true) noexcept {
    if (channels < 1 || channels > kMaxChannels) return Error{Errc::entropy_table_invalid, "channels outside 1..1024"};
    TableSet t;
    t.id_ = id;
    t.channels_ = static_cast<uint16_t>(channels);
    size_t symbols = 0, slots = 0;
    bool any = false;
    for (unsigned b = kMinBits; b <= kMaxBits; ++b) {
      if (freqs[b] == nullptr) continue;
      any = true;
      for (unsigned c = 0; c < channels; ++c) {
        if (auto ok = check_frequencies(freqs[b] + size_t(c) * alphabet_size(b), b); !ok) return ok.error();
      }
      t.sym_offset_[b] = symbols;
      t.slot_offset_[b] = slots;
      t.has_[b] = true;
      symbols += size_t(channels) * alphabet_size(b);
      slots += size_t(channels) * kPrecision;
    }
    if (!any) return Error{Errc::entropy_table_invalid, "no table for any b"};
    t.freq_.reset(new (std::nothrow) uint16_t[symbols]);
    t.enc_.reset(new (std::nothrow) EncSymbol[symbols]);
    if (with_decoder) t.dec_.reset(new (std::nothrow) uint32_t[slots]);
    if (!t.freq_ || !t.enc_ || (with_decoder && !t.dec_)) return Error{Errc::out_of_memory, "entropy tables"};
    uint32_t crc = 0;
    for (unsigned b = kMinBits; b <= kMaxBits; ++b) {
      if (!t.has_[b]) continue;
      const uint8_t head[3] = {static_cast<uint8_t>(b), static_cast<uint8_t>(channels & 0xFF),
                               static_cast<uint8_t>(channels >> 8)};
      crc = slimcodec::crc32c(head, 3, crc);
      for (unsigned c = 0; c < channels; ++c) {
        const uint16_t* f = freqs[b] + size_t(c) * alphabet_size(b);
        uint16_t* mine = t.freq_.get() + t.sym_offset_[b] + size_t(c) * alphabet_size(b);
        uint8_t le[2 * 256];
        for (uint32_t s = 0; s < alphabet_size(b); ++s) {
          mine[s] = f[s];
          le[2 * s] = static_cast<uint8_t>(f[s] & 0xFF);
          le[2 * s + 1] = static_cast<uint8_t>(f[s] >> 8);
        }
        crc = slimcodec::crc32c(le, 2 * alphabet_size(b), crc);
        t.build(b, c, with_decoder);
      }
    }
    t.hash_ = crc;
    return t;
  }

  uint16_t id() const noexcept { return id_; }
  uint32_t hash() const noexcept { return hash_; }
  unsigned channels() const noexcept { return channels_; }
  bool has(unsigned bits) const noexcept { return quant::bits_valid(bits) && has_[bits]; }
  bool has_decoder() const noexcept { return dec_ != nullptr; }
  // Require has(bits) and c < channels().
  const uint16_t* frequencies(unsigned bits, unsigned c) const noexcept {
    return freq_.get() + sym_offset_[bits] + size_t(c) * alphabet_size(bits);
  }
  const EncSymbol* encoder(unsigned bits, unsigned c) const noexcept {
    return enc_.get() + sym_offset_[bits] + size_t(c) * alphabet_size(bits);
  }
  // Also requires has_decoder().
  const uint32_t* decoder(unsigned bits, unsigned c) const noexcept {
    return dec_.get() + slot_offset_[bits] + size_t(c) * kPrecision;
  }

 private:
  void build(unsigned b, unsigned c, bool with_decoder) noexcept {
    const uint16_t* f = frequencies(b, c);
    EncSymbol* e = enc_.get() + sym_offset_[b] + size_t(c) * alphabet_size(b);
    uint32_t* d = with_decoder ? dec_.get() + slot_offset_[b] + size_t(c) * kPrecision : nullptr;
    uint32_t cum = 0;
    for (uint32_t s = 0; s < alphabet_size(b); ++s) {
      const uint32_t freq = f[s];
      EncSymbol& es = e[s];
      // States live in [2^15, 2^31); renormalizing by 16 bits keeps them there.
      es.x_max = ((uint32_t{1} << 15) >> kPrecisionBits << 16) * freq;
      es.cmpl_freq = static_cast<uint16_t>(kPrecision - freq);
      if (freq < 2) {
        es.rcp_freq = ~0u;
        es.rcp_shift = 0;
        es.bias = cum + kPrecision - 1;
      } else {
        uint32_t shift = 0;
        while (freq > (uint32_t{1} << shift)) ++shift;
        es.rcp_freq = static_cast<uint32_t>(((uint64_t{1} << (shift + 31)) + freq - 1) / freq);
        es.rcp_shift = static_cast<uint16_t>(shift - 1);
        es.bias = cum;
      }
      if (d != nullptr)
        for (uint32_t k = 0; k < freq; ++k) d[cum + k] = dec_entry(s, freq, k);
      cum += freq;
    }
  }

  uint16_t id_ = 0;
  uint16_t channels_ = 0;
  uint32_t hash_ = 0;
  bool has_[kMaxBits + 1] = {};
  size_t sym_offset_[kMaxBits + 1] = {};
  size_t slot_offset_[kMaxBits + 1] = {};
  std::unique_ptr<uint16_t[]> freq_;
  std::unique_ptr<EncSymbol[]> enc_;
  std::unique_ptr<uint32_t[]> dec_;
};

}  // namespace slimcodec::entropy
