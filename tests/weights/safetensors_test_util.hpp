// Helpers for the safetensors tests: hand-made files from a header string, and fixture paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace slimcodec_test {

// u64 LE length + header (space-padded to a multiple of 8 when pad) + data_bytes bytes of a counting pattern.
inline std::vector<uint8_t> craft_safetensors(std::string header, size_t data_bytes, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + header.size() + data_bytes);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = static_cast<uint8_t>(n >> (8 * i));
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = static_cast<uint8_t>(i * 7 + 1);
  return out;
}

inline std::string fixture_path(const char* name) { return std::string(SLIMCODEC_TEST_DATA_DIR) + "/data/" + name; }

}  // namespace slimcodec_test
