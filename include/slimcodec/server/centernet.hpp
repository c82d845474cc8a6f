// CenterNet detection decoding on the server: the teacher tail's 84 maps (80 sigmoid class heatmaps, then the box
// extents l, t, r, b in model-input pixels) -> the top-K peaks above a score threshold as boxes. Same rule as
// training/slimtrain/centernet.py (and the TFJS graph): 3x3 max-pool peaks, best first, ties to the lower
// (y, x, class) index. No allocation, no exceptions: candidates live in a fixed array of kMaxDetections.
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/wire/detection.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace slimcodec::server {

// Detections are the wire's records (wire/detection.hpp), so a backend's result goes into a Reply unchanged.
using wire::Detection;
using wire::kMaxDetections;

struct CenterNetParams {
  size_t classes = 80;            // heatmap channels; the maps have classes + 4 channels
  size_t top_k = kMaxDetections;  // 1..kMaxDetections
  float score_threshold = 0.1f;   // a peak is kept when score >= threshold; must be > 0 (non-peaks score 0)
  float stride = 4;               // model-input pixels per map cell
  float scale_x = 1, scale_y = 1; // model-input pixels -> output pixels (e.g. frame width / model input width)
};

namespace detail {

struct PeakCandidate {
  float score;
  uint64_t index;  // (y * w + x) * classes + c: the graph's NHWC order, which breaks ties
};

// a ranks before b: higher score, then lower index.
inline bool ranks_before(const PeakCandidate& a, const PeakCandidate& b) {
  return a.score != b.score ? a.score > b.score : a.index < b.index;
}

}  // namespace detail

// Decodes one CHW map stack (classes + 4 channels of h x w floats) into at most min(top_k, capacity) detections,
// best first; returns how many it wrote. Errors: invalid_argument (null pointers, classes or top_k outside range,
// threshold not > 0, stride or scale not finite and > 0), shape_out_of_range (channels != classes + 4, empty map).
// Peaks whose box is not finite are skipped (a NaN heatmap value is never a peak).
class CenterNetDecoder {
 public:
  Result<size_t> decode(const float* maps, size_t channels, size_t h, size_t w, const CenterNetParams& p,
                        Detection* out, size_t capacity) noexcept {
    if (maps == nullptr || (out == nullptr && capacity > 0)) return Error{Errc::invalid_argument, "null maps or output"};
    if (p.classes == 0 || p.classes > 65535) return Error{Errc::invalid_argument, "classes outside 1..65535"};
    if (p.top_k == 0 || p.top_k > kMaxDetections) return Error{Errc::invalid_argument, "top_k outside 1..100"};
    if (!(p.score_threshold > 0) || !std::isfinite(p.score_threshold)) {
      return Error{Errc::invalid_argument, "score_threshold must be finite and > 0"};
    }
    for (float v : {p.stride, p.scale_x, p.scale_y}) {
      if (!(v > 0) || !std::isfinite(v)) return Error{Errc::invalid_argument, "stride and scales must be finite and > 0"};
    }
    if (channels != p.classes + 4) return Error{Errc::shape_out_of_range, "maps must have classes + 4 channels"};
    if (h == 0 || w == 0) return Error{Errc::shape_out_of_range, "empty maps"};

    const size_t k = std::min(p.top_k, capacity);
    const size_t plane = h * w;
    size_t n = 0;  // candidates held; a heap whose front is the worst of them once n == k
    const auto worse_first = [](const detail::PeakCandidate& a, const detail::PeakCandidate& b) {
      return detail::ranks_before(a, b);
    };
    for (size_t c = 0; c < p.classes && k > 0; ++c) {
      const float* m = maps + c * plane;
      for (size_t y = 0; y < h; ++y) {
        for (size_t x = 0; x < w; ++x) {
          const float v = m[y * w + x];
          if (!(v >= p.score_threshold)) continue;  // also skips NaN
          if (!is_peak(m, h, w, y, x, v)) continue;
          const detail::PeakCandidate cand{v, uint64_t(y * w + x) * p.classes + c};
          const float* ext = maps + p.classes * plane + y * w + x;
          if (!std::isfinite(ext[0]) || !std::isfinite(ext[plane]) || !std::isfinite(ext[2 * plane]) ||
              !std::isfinite(ext[3 * plane])) {
            continue;
          }
          if (n < k) {
            heap_[n++] = cand;
            std::push_heap(heap_.begin(), heap_.begin() + n, worse_first);
          } else if (detail::ranks_before(cand, heap_[0])) {
            std::pop_heap(heap_.begin(), heap_.begin() + n, worse_first);
            heap_[n - 1] = cand;
            std::push_heap(heap_.begin(), heap_.begin() + n, worse_first);
          }
        }
      }
    }
    std::sort_heap(heap_.begin(), heap_.begin() + n, worse_first);  // best first
    for (size_t i = 0; i < n; ++i) {
      const uint64_t pos = heap_[i].index / p.classes;
      const float cy = float(pos / w) * p.stride, cx = float(pos % w) * p.stride;
      const float* ext = maps + p.classes * plane + pos;
      Detection& d = out[i];
      d.class_id = uint16_t(heap_[i].index % p.classes);
      d.score = heap_[i].score;
      d.x1 = (cx - ext[0]) * p.scale_x;
      d.y1 = (cy - ext[plane]) * p.scale_y;
      d.x2 = (cx + ext[2 * plane]) * p.scale_x;
      d.y2 = (cy + ext[3 * plane]) * p.scale_y;
    }
    return n;
  }

 private:
  // No 3x3 neighbour (inside the map) is larger: v equals the max-pool with -inf padding.
  static bool is_peak(const float* m, size_t h, size_t w, size_t y, size_t x, float v) noexcept {
    const size_t y0 = y ? y - 1 : 0, y1 = std::min(h - 1, y + 1);
    const size_t x0 = x ? x - 1 : 0, x1 = std::min(w - 1, x + 1);
    for (size_t yy = y0; yy <= y1; ++yy) {
      for (size_t xx = x0; xx <= x1; ++xx) {
        if (m[yy * w + xx] > v) return false;
      }
    }
    return true;
  }

  std::array<detail::PeakCandidate, kMaxDetections> heap_{};
};

}  // namespace slimcodec::server
