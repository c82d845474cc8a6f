// slimcodec-device's annotated video: each frame sent, at the source's size, with the reply's boxes drawn on it,
// encoded with libavcodec (H.264 through libx264 when this FFmpeg has it, else MPEG-4 part 2) and muxed by
// libavformat at the source's timestamps. close() writes the trailer, so a run stopped by SIGINT still plays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace slimcodec_device {

struct Box {
  float x1, y1, x2, y2;  // source pixels
  unsigned class_id;
};

class VideoOut {
 public:
  virtual ~VideoOut() = default;
  // Checks the name (the container comes from its extension) and the encoder; the file is created at the first
  // frame. On failure returns nullptr and sets `error` to one line.
  static std::unique_ptr<VideoOut> create(const std::string& path, std::string& error);
  // One frame of width x height packed RGB24 at `pts_s` with `boxes` drawn (on a copy).
  virtual bool write(const uint8_t* rgb, int width, int height, double pts_s, const Box* boxes, size_t count,
                     std::string& error) = 0;
  // Flushes the encoder and writes the trailer. Frames written so far.
  virtual bool close(std::string& error) = 0;
  virtual size_t frames() const = 0;
};

}  // namespace slimcodec_device
