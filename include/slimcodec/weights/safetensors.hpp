// SafeTensorsFile: reads and validates a .safetensors file (the PyTorch users' weight format) into 64-byte
// aligned memory and hands out typed, shape-checked views. Every malformed input is a typed error, never a crash.
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/io/file.hpp"
#include "slimcodec/weights/dtype.hpp"
#include "slimcodec/weights/json_reader.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; add byte swapping");
#endif

namespace slimcodec::weights {

inline constexpr size_t kMaxRank = 8;                       // PyTorch weights rarely exceed 5
inline constexpr size_t kMaxMetadataKeys = 65536;           // __metadata__ entries; more is format_invalid
inline constexpr size_t kTensorAlignment = 64;              // every tensor's data starts on a 64-byte boundary

struct SafeTensorsLimits {
  uint64_t max_header_bytes = uint64_t(100) << 20;  // the reference implementation's limit
  size_t max_file_bytes = size_t(1) << 30;          // open() reads the whole file into memory
};

// A tensor inside a SafeTensorsFile; valid while that file object lives (and is not moved from).
struct TensorView {
  std::string_view name;
  DType dtype = DType::F32;
  const int64_t* shape = nullptr;
  size_t rank = 0;
  const void* data = nullptr;  // kTensorAlignment-aligned, little-endian elements
  size_t nbytes = 0;

  size_t numel() const { return nbytes / dtype_size(dtype); }
  // The data as float32, or nullptr when the dtype is not F32.
  const float* f32() const { return dtype == DType::F32 ? static_cast<const float*>(data) : nullptr; }
};

// ------------------------------ SafeTensorsFile
class SafeTensorsFile {
 public:
  // Reads and validates a whole file. io_error when it cannot be read, format_invalid when malformed.
  // When error_context is given, a failure also writes a dynamic description there (tensor name, byte offset).
  static Result<SafeTensorsFile> open(const std::string& path, std::string* error_context = nullptr,
                                      const SafeTensorsLimits& limits = {}) {
    auto bytes = io::read_file(path, limits.max_file_bytes);
    if (!bytes) {
      if (error_context) *error_context = std::string(bytes.error().what()) + ": " + path;
      return bytes.error();
    }
    return parse(bytes->data(), bytes->size(), error_context, limits);
  }

  static Result<SafeTensorsFile> from_bytes(std::vector<uint8_t> bytes, std::string* error_context = nullptr,
                                            const SafeTensorsLimits& limits = {}) {
    return parse(bytes.data(), bytes.size(), error_context, limits);
  }

  static Result<SafeTensorsFile> from_bytes(const uint8_t* data, size_t size, std::string* error_context = nullptr,
                                            const SafeTensorsLimits& limits = {}) {
    if (data == nullptr && size != 0) return Error{Errc::invalid_argument, "null data"};
    return parse(data, size, error_context, limits);
  }

  // Tensors in header order.
  size_t size() const { return entries_.size(); }
  TensorView tensor(size_t i) const {
    const Entry& e = entries_[i];
    return {e.name, e.dtype, e.shape.data(), e.rank, arena_bytes() + e.arena_offset, e.nbytes};
  }

  Result<TensorView> find(std::string_view name) const {
    const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                     [&](uint32_t i, std::string_view n) { return entries_[i].name < n; });
    if (it == by_name_.end() || entries_[*it].name != name) return Error{Errc::tensor_missing, nullptr};
    return tensor(*it);
  }

  // Returns a pointer to `rank` dims of float32 data named `name`, checking dtype F32 and the exact shape.
  Result<const float*> tensor_f32(std::string_view name, const int64_t* shape, size_t rank) const {
    auto t = find(name);
    if (!t) return t.error();
    if (t->dtype != DType::F32) return Error{Errc::tensor_dtype_mismatch, nullptr};
    if (t->rank != rank || (rank != 0 && shape == nullptr) || !std::equal(shape, shape + rank, t->shape))
      return Error{Errc::tensor_shape_mismatch, nullptr};
    return t->f32();
  }
  Result<const float*> tensor_f32(std::string_view name, std::initializer_list<int64_t> shape) const {
    return tensor_f32(name, shape.begin(), shape.size());
  }

  // Number of tensors whose name starts with prefix (to detect extra tensors).
  size_t count_with_prefix(std::string_view prefix) const {
    return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                             [&](const Entry& e) { return starts_with(e.name, prefix); }));
  }

  // The name of some tensor starting with prefix that is not in `known` (for a helpful tensor_unexpected
  // message), or nullopt. `known` is any range of things convertible to std::string_view.
  template <class Range>
  std::optional<std::string_view> unexpected_with_prefix(std::string_view prefix, const Range& known) const {
    for (const Entry& e : entries_) {
      if (!starts_with(e.name, prefix)) continue;
      bool listed = false;
      for (const auto& k : known)
        if (std::string_view(k) == e.name) {
          listed = true;
          break;
        }
      if (!listed) return std::string_view(e.name);
    }
    return std::nullopt;
  }
  std::optional<std::string_view> unexpected_with_prefix(std::string_view prefix,
                                                         std::initializer_list<std::string_view> known) const {
    return unexpected_with_prefix<std::initializer_list<std::string_view>>(prefix, known);
  }

  // "F32 [6, 3, 3, 3]" for a tensor, "missing" when there is none of that name: for error messages.
  std::string describe(std::string_view name) const {
    auto t = find(name);
    if (!t) return "missing";
    std::string s(dtype_name(t->dtype));
    s += " [";
    for (size_t i = 0; i < t->rank; ++i) s += (i ? ", " : "") + std::to_string(t->shape[i]);
    return s + "]";
  }

  // The header's "__metadata__" string map, in file order.
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  std::optional<std::string_view> metadata_value(std::string_view key) const {
    for (const auto& kv : metadata_)
      if (kv.first == key) return std::string_view(kv.second);
    return std::nullopt;
  }

 private:
  struct Entry {
    std::string name;
    DType dtype = DType::F32;
    size_t rank = 0;
    std::array<int64_t, kMaxRank> shape{};
    uint64_t begin = 0, end = 0;  // in the file's data section
    size_t nbytes = 0;
    size_t arena_offset = 0;
  };
  struct alignas(kTensorAlignment) Block {
    uint8_t bytes[kTensorAlignment];
  };

  SafeTensorsFile() = default;

  // The Block array viewed as bytes (object representation access through unsigned char is well defined).
  const uint8_t* arena_bytes() const {
    return arena_.empty() ? empty_arena() : reinterpret_cast<const uint8_t*>(arena_.data());
  }
  static const uint8_t* empty_arena() {
    alignas(kTensorAlignment) static const uint8_t kNothing[kTensorAlignment] = {};
    return kNothing;  // non-null, aligned pointer for files whose tensors are all empty
  }

  static constexpr bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
  }

  // Error plus (when wanted) a dynamic description.
  static Error fail(std::string* context, const char* detail, std::string_view tensor = {}, size_t at = SIZE_MAX) {
    if (detail == nullptr) detail = "malformed safetensors header";
    if (context) {
      *context = detail;
      if (!tensor.empty()) *context += " (tensor '" + std::string(tensor) + "')";
      if (at != SIZE_MAX) *context += " (header byte " + std::to_string(at) + ")";
    }
    return Error{Errc::format_invalid, detail};
  }

  // ---- header parsing
  static Result<void> parse_metadata(JsonReader& r, SafeTensorsFile& f) {
    if (!r.consume('{')) return Error{Errc::format_invalid, "__metadata__ is not an object"};
    if (r.consume('}')) return {};
    for (;;) {
      auto key = r.read_string();
      if (!key) return key.error();
      if (auto c = r.expect(':', "header JSON: expected ':'"); !c) return c;
      if (r.peek() != '"') return Error{Errc::format_invalid, "__metadata__ values must be strings"};
      auto value = r.read_string();
      if (!value) return value.error();
      if (f.metadata_.size() >= kMaxMetadataKeys) return Error{Errc::format_invalid, "__metadata__ has too many keys"};
      f.metadata_.emplace_back(std::move(*key), std::move(*value));
      if (r.consume(',')) continue;
      if (auto c = r.expect('}', "header JSON: expected ',' or '}'"); !c) return c;
      return check_unique_metadata_keys(f.metadata_);
    }
  }

  // Duplicate keys, in O(n log n): sort views of the (now stable) keys and compare neighbours. A hash set would be
  // quadratic again for keys crafted to collide.
  static Result<void> check_unique_metadata_keys(const std::vector<std::pair<std::string, std::string>>& m) {
    std::vector<std::string_view> keys;
    keys.reserve(m.size());
    for (const auto& kv : m) keys.emplace_back(kv.first);
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) {
      return Error{Errc::format_invalid, "duplicate key in __metadata__"};
    }
    return {};
  }

  static Result<void> parse_int_array(JsonReader& r, int64_t* out, size_t max_count, size_t* count,
                                      const char* too_many) {
    *count = 0;
    if (!r.consume('[')) return Error{Errc::format_invalid, "expected an array of integers"};
    if (r.consume(']')) return {};
    for (;;) {
      auto v = r.read_int();
      if (!v) return v.error();
      if (*v < 0) return Error{Errc::format_invalid, "negative shape or offset"};
      if (*count == max_count) return Error{Errc::format_invalid, too_many};
      out[(*count)++] = *v;
      if (r.consume(',')) continue;
      return r.expect(']', "header JSON: expected ',' or ']'");
    }
  }

  static Result<void> parse_tensor(JsonReader& r, Entry& e) {
    if (!r.consume('{')) return Error{Errc::format_invalid, "tensor entry is not an object"};
    bool have_dtype = false, have_shape = false, have_offsets = false;
    if (!r.consume('}')) {
      for (;;) {
        auto key = r.read_string();
        if (!key) return key.error();
        if (auto c = r.expect(':', "header JSON: expected ':'"); !c) return c;
        if (*key == "dtype") {
          if (have_dtype) return Error{Errc::format_invalid, "duplicate key in a tensor entry"};
          have_dtype = true;
          auto name = r.read_string();
          if (!name) return name.error();
          if (!dtype_from_name(*name, &e.dtype)) return Error{Errc::format_invalid, "unknown dtype"};
        } else if (*key == "shape") {
          if (have_shape) return Error{Errc::format_invalid, "duplicate key in a tensor entry"};
          have_shape = true;
          if (auto a = parse_int_array(r, e.shape.data(), kMaxRank, &e.rank, "tensor rank above kMaxRank"); !a)
            return a;
        } else if (*key == "data_offsets") {
          if (have_offsets) return Error{Errc::format_invalid, "duplicate key in a tensor entry"};
          have_offsets = true;
          int64_t off[2] = {0, 0};
          size_t n = 0;
          if (auto a = parse_int_array(r, off, 2, &n, "data_offsets must have two entries"); !a) return a;
          if (n != 2) return Error{Errc::format_invalid, "data_offsets must have two entries"};
          e.begin = static_cast<uint64_t>(off[0]);
          e.end = static_cast<uint64_t>(off[1]);
        } else if (auto s = r.skip_value(2); !s) {  // unknown keys are skipped, as the reference reader does
          return s;
        }
        if (r.consume(',')) continue;
        if (auto c = r.expect('}', "header JSON: expected ',' or '}'"); !c) return c;
        break;
      }
    }
    if (!have_dtype || !have_shape || !have_offsets)
      return Error{Errc::format_invalid, "tensor entry lacks dtype, shape or data_offsets"};
    return {};
  }

  // Element count * element size, or nullopt on overflow.
  static std::optional<size_t> byte_size(const Entry& e) {
    uint64_t n = dtype_size(e.dtype);
    for (size_t i = 0; i < e.rank; ++i) {
      const auto d = static_cast<uint64_t>(e.shape[i]);
      if (d != 0 && n > uint64_t(SIZE_MAX) / d) return std::nullopt;
      n *= d;
    }
    return static_cast<size_t>(n);
  }

  static Result<SafeTensorsFile> parse(const uint8_t* bytes, size_t size, std::string* ctx,
                                       const SafeTensorsLimits& limits) {
    if (size < 8) return fail(ctx, "file shorter than the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    if (n > limits.max_header_bytes) return fail(ctx, "header length above the limit");
    if (n > size - 8) return fail(ctx, "header length beyond the end of the file");
    const std::string_view header(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n));
    const uint8_t* data = bytes + 8 + n;
    const uint64_t data_size = size - 8 - n;
    if (header.empty() || header[0] != '{') return fail(ctx, "header does not start with '{'");
    if (!validate_utf8(header)) return fail(ctx, "header is not valid UTF-8");

    SafeTensorsFile f;
    bool have_metadata = false;
    JsonReader r(header);
    r.consume('{');
    if (!r.consume('}')) {
      for (;;) {
        auto key = r.read_string();
        if (!key) return fail(ctx, key.error().detail, {}, r.position());
        if (!r.consume(':')) return fail(ctx, "header JSON: expected ':'", *key, r.position());
        if (*key == "__metadata__") {
          if (have_metadata) return fail(ctx, "duplicate __metadata__", {}, r.position());
          have_metadata = true;
          if (auto m = parse_metadata(r, f); !m) return fail(ctx, m.error().detail, *key, r.position());
        } else {
          Entry e;
          e.name = std::move(*key);
          if (auto t = parse_tensor(r, e); !t) return fail(ctx, t.error().detail, e.name, r.position());
          f.entries_.push_back(std::move(e));
        }
        if (r.consume(',')) continue;
        if (!r.consume('}')) return fail(ctx, "header JSON: expected ',' or '}'", {}, r.position());
        break;
      }
    }
    if (!r.at_end()) return fail(ctx, "header JSON: trailing characters after the object", {}, r.position());
    if (f.entries_.size() > UINT32_MAX) return fail(ctx, "too many tensors");

    // Names: unique (sorted index doubles as the lookup table).
    f.by_name_.resize(f.entries_.size());
    for (size_t i = 0; i < f.by_name_.size(); ++i) f.by_name_[i] = static_cast<uint32_t>(i);
    std::sort(f.by_name_.begin(), f.by_name_.end(),
              [&](uint32_t a, uint32_t b) { return f.entries_[a].name < f.entries_[b].name; });
    for (size_t i = 1; i < f.by_name_.size(); ++i)
      if (f.entries_[f.by_name_[i]].name == f.entries_[f.by_name_[i - 1]].name)
        return fail(ctx, "duplicate tensor name", f.entries_[f.by_name_[i]].name);

    // Offsets: each matches dtype * shape, and together they tile the data section exactly (no overlap, no
    // hole, nothing after the last tensor), as the specification demands.
    std::vector<uint32_t> by_offset(f.by_name_);
    for (Entry& e : f.entries_) {
      const auto nbytes = byte_size(e);
      if (!nbytes) return fail(ctx, "tensor size overflows", e.name);
      if (e.begin > e.end || e.end - e.begin != *nbytes)
        return fail(ctx, "data_offsets do not match dtype and shape", e.name);
      if (e.end > data_size) return fail(ctx, "tensor data beyond the end of the file (truncated?)", e.name);
      e.nbytes = *nbytes;
    }
    std::sort(by_offset.begin(), by_offset.end(), [&](uint32_t a, uint32_t b) {
      const Entry &x = f.entries_[a], &y = f.entries_[b];
      return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
    });
    uint64_t covered = 0;
    for (uint32_t i : by_offset) {
      const Entry& e = f.entries_[i];
      if (e.begin < covered) return fail(ctx, "tensors overlap in the data section", e.name);
      if (e.begin > covered) return fail(ctx, "gap in the data section", e.name);
      covered = e.end;
    }
    if (covered != data_size) return fail(ctx, "bytes after the last tensor in the data section");

    // Copy each tensor to its own aligned slot: the file only guarantees 8-byte alignment of the section, and
    // not even that for tensors placed after odd-sized ones.
    size_t total = 0;
    for (Entry& e : f.entries_) {
      e.arena_offset = total;
      const size_t slot = (e.nbytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
      if (slot > SIZE_MAX - kTensorAlignment - total) return fail(ctx, "tensor data too large for memory");
      total += slot;
    }
    f.arena_.resize(total / kTensorAlignment);
    auto* arena = reinterpret_cast<uint8_t*>(f.arena_.data());
    for (const Entry& e : f.entries_)
      if (e.nbytes) std::memcpy(arena + e.arena_offset, data + e.begin, e.nbytes);
    return f;
  }

  std::vector<Entry> entries_;
  std::vector<uint32_t> by_name_;  // indices into entries_, sorted by name
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<Block> arena_;
};

}  // namespace slimcodec::weights
