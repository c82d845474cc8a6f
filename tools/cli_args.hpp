// Command-line values shared by the programs in tools/: strict decimal numbers and HOST:PORT.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>

namespace slimcodec::cli {

// The whole text is one decimal number that fits T: no space, no suffix, and for unsigned T no sign ("-1" would
// be 2^64 - 1 through strtoull).
template <class T>
bool parse_number(const char* text, T& out) {
  const char* end = text + std::strlen(text);
  T v{};
  const auto r = std::from_chars(text, end, v);
  if (text == end || r.ec != std::errc{} || r.ptr != end) return false;
  out = v;
  return true;
}

inline bool parse_port(const char* text, uint16_t& port) {
  unsigned n = 0;
  if (!parse_number(text, n) || n == 0 || n > 65535) return false;
  port = uint16_t(n);
  return true;
}

// "HOST:PORT" or "[IPv6]:PORT".
inline bool parse_host_port(const std::string& text, std::string& host, uint16_t& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || !parse_port(text.c_str() + colon + 1, port)) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return true;
}

}  // namespace slimcodec::cli
