// A minimal pull-style JSON reader for safetensors headers: objects, arrays, strings (all escapes) and integers.
// Anything else (floats, true/false/null, bad UTF-8, nesting deeper than kMaxJsonDepth) is a clean error there.
// Other JSON files (device/accuracy_table.hpp) also read numbers in full and the literals, and skip any value.
#pragma once

#include "slimcodec/common/result.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace slimcodec::weights {

inline constexpr int kMaxJsonDepth = 32;

// ------------------------------ validate_utf8
// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), checked once over the whole header so the
// reader can pass multi-byte sequences through unexamined.
constexpr bool validate_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// ------------------------------ JsonReader
// Reads tokens from a UTF-8-validated text; every method checks bounds before looking at a byte.
class JsonReader {
 public:
  explicit constexpr JsonReader(std::string_view text) : text_(text) {}

  constexpr size_t position() const { return pos_; }

  constexpr void skip_whitespace() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  // True when only whitespace remains.
  constexpr bool at_end() {
    skip_whitespace();
    return pos_ == text_.size();
  }

  // Consumes c (after whitespace) if it is next.
  constexpr bool consume(char c) {
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  constexpr char peek() {
    skip_whitespace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  Result<void> expect(char c, const char* detail) {
    if (!consume(c)) return Error{Errc::format_invalid, detail};
    return {};
  }

  // A string token, escapes decoded to UTF-8.
  Result<std::string> read_string() {
    if (!consume('"')) return Error{Errc::format_invalid, "header JSON: expected a string"};
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<uint8_t>(c) < 0x20) return Error{Errc::format_invalid, "header JSON: control character in a string"};
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!read_hex4(&cp)) return Error{Errc::format_invalid, "header JSON: bad \\u escape"};
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Error{Errc::format_invalid, "header JSON: lone low surrogate"};
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (pos_ + 2 > text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u')
              return Error{Errc::format_invalid, "header JSON: lone high surrogate"};
            pos_ += 2;
            if (!read_hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF)
              return Error{Errc::format_invalid, "header JSON: lone high surrogate"};
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(cp, &out);
          break;
        }
        default: return Error{Errc::format_invalid, "header JSON: unknown escape in a string"};
      }
    }
    return Error{Errc::format_invalid, "header JSON: unterminated string"};
  }

  // An integer token in JSON syntax (-?(0|[1-9][0-9]*)); fractions and exponents are rejected.
  Result<int64_t> read_int() {
    skip_whitespace();
    bool negative = false;
    if (pos_ < text_.size() && text_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    if (pos_ >= text_.size() || !is_digit(text_[pos_])) return Error{Errc::format_invalid, "header JSON: expected an integer"};
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1]))
      return Error{Errc::format_invalid, "header JSON: integer with a leading zero"};
    uint64_t v = 0;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      const auto d = static_cast<uint64_t>(text_[pos_] - '0');
      if (v > (uint64_t(INT64_MAX) - d) / 10) return Error{Errc::format_invalid, "header JSON: integer too large"};
      v = v * 10 + d;
      ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      return Error{Errc::format_invalid, "header JSON: only integer numbers are supported"};
    return negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  }

  // A number token in full JSON syntax (-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?) as a finite double.
  Result<double> read_number() {
    skip_whitespace();
    const size_t begin = pos_;
    size_t i = pos_;
    auto digits = [&] {
      const size_t from = i;
      while (i < text_.size() && is_digit(text_[i])) ++i;
      return i - from;
    };
    if (i < text_.size() && text_[i] == '-') ++i;
    const size_t int_start = i;
    const size_t int_digits = digits();
    if (int_digits == 0) return Error{Errc::format_invalid, "JSON: expected a number"};
    if (text_[int_start] == '0' && int_digits > 1) return Error{Errc::format_invalid, "JSON: number with a leading zero"};
    if (i < text_.size() && text_[i] == '.') {
      ++i;
      if (digits() == 0) return Error{Errc::format_invalid, "JSON: digits must follow '.'"};
    }
    if (i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
      ++i;
      if (i < text_.size() && (text_[i] == '+' || text_[i] == '-')) ++i;
      if (digits() == 0) return Error{Errc::format_invalid, "JSON: digits must follow the exponent"};
    }
    double v = 0;
    const auto res = std::from_chars(text_.data() + begin, text_.data() + i, v, std::chars_format::general);
    if (res.ec != std::errc() || res.ptr != text_.data() + i || !std::isfinite(v))
      return Error{Errc::format_invalid, "JSON: number out of range"};
    pos_ = i;
    return v;
  }

  // The literal `word` (true, false or null).
  Result<void> read_literal(std::string_view word) {
    skip_whitespace();
    if (text_.substr(pos_, word.size()) != word) return Error{Errc::format_invalid, "JSON: unexpected token"};
    pos_ += word.size();
    return {};
  }

  // The scalars skip_value accepts: a safetensors header's (strings and integers), or any JSON scalar.
  enum class Scalars : uint8_t { safetensors, any };

  // Skips one value; depth counts the containers already open around it.
  Result<void> skip_value(int depth, Scalars scalars = Scalars::safetensors) {
    if (depth >= kMaxJsonDepth) return Error{Errc::format_invalid, "header JSON: nesting too deep"};
    const char c = peek();
    if (c == '"') {
      auto s = read_string();
      if (!s) return s.error();
      return {};
    }
    if (c == '-' || is_digit(c)) {
      if (scalars == Scalars::any) {
        auto v = read_number();
        if (!v) return v.error();
        return {};
      }
      auto v = read_int();
      if (!v) return v.error();
      return {};
    }
    if (scalars == Scalars::any) {
      if (c == 't') return read_literal("true");
      if (c == 'f') return read_literal("false");
      if (c == 'n') return read_literal("null");
    }
    if (c == '[' || c == '{') {
      const bool object = c == '{';
      ++pos_;
      if (consume(object ? '}' : ']')) return {};
      for (;;) {
        if (object) {
          auto key = read_string();
          if (!key) return key.error();
          if (!consume(':')) return Error{Errc::format_invalid, "header JSON: expected ':'"};
        }
        if (auto r = skip_value(depth + 1, scalars); !r) return r;
        if (consume(',')) continue;
        if (consume(object ? '}' : ']')) return {};
        return Error{Errc::format_invalid, "header JSON: expected ',' or a closing bracket"};
      }
    }
    if (c == '\0' && pos_ >= text_.size()) return Error{Errc::format_invalid, "header JSON: unexpected end"};
    if (scalars == Scalars::any) return Error{Errc::format_invalid, "JSON: unexpected token"};
    return Error{Errc::format_invalid, "header JSON: unsupported value (only objects, arrays, strings, integers)"};
  }

 private:
  static constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  static constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

  constexpr bool read_hex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = text_[pos_++];
      uint32_t d = 0;
      if (h >= '0' && h <= '9') d = uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') d = uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') d = uint32_t(h - 'A' + 10);
      else return false;
      v = (v << 4) | d;
    }
    *out = v;
    return true;
  }

  static void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace slimcodec::weights
