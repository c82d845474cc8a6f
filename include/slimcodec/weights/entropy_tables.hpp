// Codec-1 entropy tables stored with the weights: tensors `entropy.b{b}` (U16 [C, 2^b], one row of 2^b
// frequencies per channel) and metadata `entropy.table_id` (decimal 0..65535). tools/fit_entropy_tables
// writes them; load_entropy_tables reads them into a validated entropy::TableSet.
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/entropy/tables.hpp"
#include "slimcodec/weights/safetensors.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace slimcodec::weights {

inline constexpr const char* kEntropyTableIdKey = "entropy.table_id";

inline std::string entropy_tensor_name(unsigned bits) { return "entropy.b" + std::to_string(bits); }

// Errors: tensor_missing (no entropy.b* tensor), format_invalid (table id metadata missing or not 0..65535),
// tensor_dtype_mismatch (not U16), tensor_shape_mismatch (not [C, 2^b], or C differs between b),
// entropy_table_invalid (a zero frequency, a sum other than 4096).
inline Result<entropy::TableSet> load_entropy_tables(const SafeTensorsFile& file, bool with_decoder = true) {
  const auto id_text = file.metadata_value(kEntropyTableIdKey);
  const uint16_t* freqs[entropy::kMaxBits + 1] = {};
  int64_t channels = -1;
  for (unsigned b = entropy::kMinBits; b <= entropy::kMaxBits; ++b) {
    auto t = file.find(entropy_tensor_name(b));
    if (!t) continue;
    if (t->dtype != DType::U16) return Error{Errc::tensor_dtype_mismatch, "entropy tables are U16"};
    if (t->rank != 2 || t->shape[1] != int64_t{1} << b || t->shape[0] < 1 ||
        t->shape[0] > int64_t{entropy::kMaxChannels} || (channels >= 0 && t->shape[0] != channels))
      return Error{Errc::tensor_shape_mismatch, "entropy.b{b} must be [C, 2^b] with one C for every b"};
    channels = t->shape[0];
    freqs[b] = static_cast<const uint16_t*>(t->data);
  }
  if (channels < 0) return Error{Errc::tensor_missing, "no entropy.b{b} tensor"};
  if (!id_text || id_text->empty() || id_text->size() > 5) return Error{Errc::format_invalid, "entropy.table_id"};
  uint32_t id = 0;
  for (char ch : *id_text) {
    if (ch < '0' || ch > '9') return Error{Errc::format_invalid, "entropy.table_id is not a decimal number"};
    id = id * 10 + uint32_t(ch - '0');
  }
  if (id > 0xFFFF) return Error{Errc::format_invalid, "entropy.table_id above 65535"};
  return entropy::TableSet::create(uint16_t(id), unsigned(channels), freqs, with_decoder);
}

}  // namespace slimcodec::weights
