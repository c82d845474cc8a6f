// The task's answer a Reply carries back to the device (docs/wire-format.md, "Result section"): one detected
// object per record, at most kMaxDetections per reply. Shared by the server (decoding) and the device (parsing).
#pragma once

#include <cstddef>
#include <cstdint>

namespace slimcodec::wire {

// One detected object: class, score in [0, 1], box corners (x1, y1) top-left and (x2, y2) bottom-right in pixels.
struct Detection {
  uint16_t class_id = 0;
  float score = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// The most detections one reply carries (CenterNet's own top 100).
inline constexpr size_t kMaxDetections = 100;

}  // namespace slimcodec::wire
