// Whole-file read and write with typed errors (io_error), shared by the weights and image loaders.
#pragma once

#include "slimcodec/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace slimcodec::io {

// Reads the whole file; refuses files larger than max_bytes (io_error) instead of exhausting memory.
inline Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Error{Errc::io_error, "cannot open file for reading"};
  std::vector<uint8_t> bytes;
  // Chunked reads need no size query (ftell is a 32-bit long on some boards) and stop at the limit.
  constexpr size_t kChunk = size_t(1) << 16;
  for (;;) {
    const size_t have = bytes.size();
    if (have > max_bytes) {
      std::fclose(f);
      return Error{Errc::io_error, "file larger than the reader's limit"};
    }
    bytes.resize(have + kChunk);
    const size_t got = std::fread(bytes.data() + have, 1, kChunk, f);
    bytes.resize(have + got);
    if (got < kChunk) break;
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Error{Errc::io_error, "read failed"};
  if (bytes.size() > max_bytes) return Error{Errc::io_error, "file larger than the reader's limit"};
  return bytes;
}

// Creates or truncates the file and writes size bytes.
inline Result<void> write_file(const std::string& path, const uint8_t* data, size_t size) {
  if (data == nullptr && size != 0) return Error{Errc::invalid_argument, "null data"};
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Error{Errc::io_error, "cannot open file for writing"};
  const size_t put = size ? std::fwrite(data, 1, size, f) : 0;
  const bool close_failed = std::fclose(f) != 0;  // flush errors (disk full) surface here
  if (put != size || close_failed) return Error{Errc::io_error, "write failed"};
  return {};
}

}  // namespace slimcodec::io
