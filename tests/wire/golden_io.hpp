// Reading tests/golden/: frame files and their .txt sidecars (format described in tests/golden/README.md).
// Used by the Catch2 tests and by fuzz/regression_driver.cpp, so it has no Catch2 dependency.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <slimcodec/common/result.hpp>
#include <slimcodec/wire/frame.hpp>

namespace slimcodec::wire::golden {

inline std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Sorted regular files under dir (recursively) whose name ends with ext ("" = all).
inline std::vector<std::filesystem::path> list_files(const std::filesystem::path& dir, const std::string& ext) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The snake_case name each wire error has in sidecars, the spec and educational_decoder.py.
inline const char* errc_name(Errc e) {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::truncated: return "truncated";
    case Errc::bad_magic: return "bad_magic";
    case Errc::version_unsupported: return "version_unsupported";
    case Errc::reserved_nonzero: return "reserved_nonzero";
    case Errc::header_size_invalid: return "header_size_invalid";
    case Errc::header_crc_mismatch: return "header_crc_mismatch";
    case Errc::bits_out_of_range: return "bits_out_of_range";
    case Errc::ensemble_out_of_range: return "ensemble_out_of_range";
    case Errc::shape_out_of_range: return "shape_out_of_range";
    case Errc::bounds_invalid: return "bounds_invalid";
    case Errc::codec_unsupported: return "codec_unsupported";
    case Errc::entropy_table_mismatch: return "entropy_table_mismatch";
    case Errc::entropy_stream_invalid: return "entropy_stream_invalid";
    case Errc::length_mismatch: return "length_mismatch";
    case Errc::length_too_large: return "length_too_large";
    case Errc::crc_mismatch: return "crc_mismatch";
    // Table files (tests/golden/tables/).
    case Errc::format_invalid: return "format_invalid";
    case Errc::tensor_missing: return "tensor_missing";
    case Errc::tensor_shape_mismatch: return "tensor_shape_mismatch";
    case Errc::tensor_dtype_mismatch: return "tensor_dtype_mismatch";
    case Errc::entropy_table_invalid: return "entropy_table_invalid";
    default: return "other";
  }
}

struct Frame {
  FrameHeader header;
  size_t offset = 0, frame_size = 0;
  std::vector<uint8_t> codes;
  std::vector<float> values;
};

struct Sidecar {
  std::vector<Frame> frames;       // ok/ files
  std::string error;               // err/ files: expected error name
  int errc = -1;                   // and its number
  size_t frames_before_error = 0;  // frames that decode before the error
};

inline Sidecar read_sidecar(const std::filesystem::path& path) {
  Sidecar s;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string key;
    words >> key;
    auto num = [&] {
      std::string v;
      words >> v;
      return std::strtoull(v.c_str(), nullptr, 10);
    };
    auto real = [&] {
      std::string v;
      words >> v;
      return std::strtof(v.c_str(), nullptr);
    };
    FrameHeader* h = s.frames.empty() ? nullptr : &s.frames.back().header;
    if (key == "frame") s.frames.emplace_back();
    else if (key == "error") words >> s.error;
    else if (key == "errc") s.errc = int(num());
    else if (key == "frames_before_error") s.frames_before_error = num();
    else if (!h) continue;
    else if (key == "offset") s.frames.back().offset = num();
    else if (key == "frame_size") s.frames.back().frame_size = num();
    else if (key == "bound_mode") h->bound_mode = BoundMode(num());
    else if (key == "codec") h->codec = Codec(num());
    else if (key == "ensemble_size") h->ensemble_size = uint8_t(num());
    else if (key == "bits") h->bits = uint8_t(num());
    else if (key == "channels") h->channels = uint16_t(num());
    else if (key == "height") h->height = uint16_t(num());
    else if (key == "width") h->width = uint16_t(num());
    else if (key == "lo") h->lo = real();
    else if (key == "hi") h->hi = real();
    else if (key == "frame_id") h->frame_id = uint32_t(num());
    else if (key == "timestamp_us") h->timestamp_us = num();
    else if (key == "payload_size") h->payload_size = uint32_t(num());
    else if (key == "codes") {
      for (unsigned long q; words >> q;) s.frames.back().codes.push_back(uint8_t(q));
    } else if (key == "values") {
      for (std::string v; words >> v;) s.frames.back().values.push_back(std::strtof(v.c_str(), nullptr));
    }
  }
  return s;
}

}  // namespace slimcodec::wire::golden
