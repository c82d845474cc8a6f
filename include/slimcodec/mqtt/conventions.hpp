// The MQTT transport's naming conventions (docs/mqtt.md): where devices publish frames, where replies go, the
// shared subscription decoder workers join, and how a frame id travels as MQTT 5 Correlation Data.
// One place, so devices, workers, tests and other-language clients agree.
#pragma once

#include "slimcodec/common/byte_order.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slimcodec::mqtt {

inline constexpr std::string_view kDefaultPrefix = "slimcodec";
inline constexpr std::string_view kDefaultGroup = "decoders";
inline constexpr size_t kMaxLevelSize = 64;
inline constexpr size_t kCorrelationSize = 4;  // the frame id, little-endian like the wire format

// A user-chosen topic level (device id, group name): 1..64 of [A-Za-z0-9._-]. Excludes '/', the wildcards
// '+' and '#', and a leading '$', so a name can never widen a subscription or hide in a system topic.
constexpr bool valid_level(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxLevelSize) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A topic prefix: one or more valid levels joined by '/'.
constexpr bool valid_prefix(std::string_view s) noexcept {
  if (s.empty()) return false;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    const std::string_view level = s.substr(start, slash == std::string_view::npos ? s.npos : slash - start);
    if (!valid_level(level)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

inline std::string frame_topic(std::string_view prefix, std::string_view device) {
  return std::string(prefix) + "/frames/" + std::string(device);
}

// Every reply topic starts with this; workers refuse to publish anywhere else.
inline std::string reply_topic_prefix(std::string_view prefix) { return std::string(prefix) + "/replies/"; }

inline std::string reply_topic(std::string_view prefix, std::string_view device) {
  return reply_topic_prefix(prefix) + std::string(device);
}

// The filter every decoder worker of `group` subscribes to: each frame goes to one member of the group.
inline std::string shared_frame_filter(std::string_view group, std::string_view prefix) {
  return "$share/" + std::string(group) + "/" + std::string(prefix) + "/frames/+";
}

// True when a worker may publish a reply to `topic`: under the reply prefix, one more valid level.
inline bool acceptable_reply_topic(std::string_view topic, std::string_view prefix) {
  const std::string head = reply_topic_prefix(prefix);
  return topic.size() > head.size() && topic.compare(0, head.size(), head) == 0 &&
         valid_level(topic.substr(head.size()));
}

using Correlation = std::array<uint8_t, kCorrelationSize>;

inline Correlation correlation(uint32_t frame_id) {
  Correlation c{};
  slimcodec::store_le32(c.data(), frame_id);
  return c;
}

// The frame id carried in Correlation Data, when it has our 4-byte form.
inline std::optional<uint32_t> frame_id_from_correlation(const uint8_t* data, size_t size) {
  if (data == nullptr || size != kCorrelationSize) return std::nullopt;
  return slimcodec::load_le32(data);
}

}  // namespace slimcodec::mqtt
