// Writes tensors as a .safetensors file (or bytes) that PyTorch's safetensors and SafeTensorsFile both read: for the
// tools that produce weight and table files, the Python module's table export, and tests (not library: the
// library only reads).
#pragma once

#include <slimcodec/common/result.hpp>
#include <slimcodec/io/file.hpp>
#include <slimcodec/weights/dtype.hpp>
#include <slimcodec/weights/json_reader.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace slimcodec::weights {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel * dtype_size bytes, little-endian
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

namespace detail {

inline void append_json_string(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char c : s) {
    const auto u = static_cast<uint8_t>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      *out += "\\u00";
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

}  // namespace detail

// Serialises tensors in the given order; the header is padded with spaces so the data section starts 8-aligned.
inline Result<std::vector<uint8_t>> to_safetensors_bytes(const std::vector<TensorToWrite>& tensors,
                                                         const Metadata& metadata = {}) {
  std::vector<std::string_view> names;
  for (const auto& t : tensors) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) != names.end())
    return Error{Errc::invalid_argument, "duplicate tensor name"};

  std::vector<std::string_view> keys;
  for (const auto& kv : metadata) keys.push_back(kv.first);
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end())
    return Error{Errc::invalid_argument, "duplicate metadata key"};

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (!validate_utf8(metadata[i].first) || !validate_utf8(metadata[i].second))
        return Error{Errc::invalid_argument, "metadata is not valid UTF-8"};
      if (i) header += ',';
      detail::append_json_string(metadata[i].first, &header);
      header += ':';
      detail::append_json_string(metadata[i].second, &header);
    }
    header += '}';
  }
  uint64_t offset = 0;
  std::vector<size_t> sizes;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__") return Error{Errc::invalid_argument, "'__metadata__' is a reserved name"};
    if (!validate_utf8(t.name)) return Error{Errc::invalid_argument, "tensor name is not valid UTF-8"};
    if (t.shape.size() > kMaxRank) return Error{Errc::invalid_argument, "tensor rank above kMaxRank"};
    uint64_t nbytes = dtype_size(t.dtype);
    for (const int64_t d : t.shape) {
      if (d < 0) return Error{Errc::invalid_argument, "negative dimension"};
      if (d != 0 && nbytes > uint64_t(SIZE_MAX / 2) / uint64_t(d)) return Error{Errc::invalid_argument, "tensor too large"};
      nbytes *= uint64_t(d);
    }
    if (nbytes != 0 && t.data == nullptr) return Error{Errc::invalid_argument, "null tensor data"};
    if (header.size() > 1) header += ',';
    detail::append_json_string(t.name, &header);
    header += ":{\"dtype\":\"";
    header += dtype_name(t.dtype);
    header += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
    if (offset > uint64_t(SIZE_MAX / 2)) return Error{Errc::invalid_argument, "tensors too large"};
    sizes.push_back(static_cast<size_t>(nbytes));
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');

  std::vector<uint8_t> out(8 + header.size() + static_cast<size_t>(offset));
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  size_t at = 8 + header.size();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i]) std::memcpy(out.data() + at, tensors[i].data, sizes[i]);
    at += sizes[i];
  }
  return out;
}

inline Result<void> write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                                      const Metadata& metadata = {}) {
  auto bytes = to_safetensors_bytes(tensors, metadata);
  if (!bytes) return bytes.error();
  return io::write_file(path, bytes->data(), bytes->size());
}

}  // namespace slimcodec::weights
