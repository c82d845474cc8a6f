// slimcodec-device's frame sources: a video file, a V4L2 camera or a network stream through FFmpeg's libraries
// (libavformat, libavdevice, libavcodec; source.cpp), scaled by libswscale to the model input as packed RGB24, or
// raw RGB24 frames on stdin (stdin_source.cpp: no FFmpeg, so a board without it still builds the program; the
// encoder's preprocessing resizes them). Live sources (cameras, streams) decode on their own thread and keep only
// the newest frame, so a slow link drops frames instead of queueing them. Program code, not library.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace slimcodec_device {

struct SourceOptions {
  std::string input;          // a file, /dev/videoN, a URL (rtsp://, http://, ...), or "-" for raw RGB24 on stdin
  std::string format;         // FFmpeg input format (e.g. v4l2, mjpeg); empty: guessed from the input
  std::string video_size;     // WxH: the camera's capture size, or the size of raw stdin frames (required there)
  std::string framerate;      // the camera's rate (e.g. 30), or raw stdin frames' nominal rate (timestamps)
  int live = -1;              // 1: drop frames (newest wins), 0: every frame in order, -1: cameras and URLs are live
  int out_width = 0, out_height = 0;  // the model input
  bool keep_source_rgb = false;       // also hand out each frame at its own size (for the annotated video)
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM: blocking reads return
};

struct SourceFrame {
  size_t index = 0;       // the frame's position in the source (0-based; drops leave gaps)
  double pts_s = 0;       // source timestamp, seconds (the stream's; stdin: index / rate, or arrival time)
  int width = 0, height = 0;  // the source frame's size (boxes are reported in these pixels)
  const uint8_t* rgb = nullptr;  // rgb_width * rgb_height * 3 bytes, valid until the next next()
  int rgb_width = 0, rgb_height = 0;  // the model input (FFmpeg sources scale to it), or the frame's own size
  const uint8_t* source_rgb = nullptr;  // width * height * 3 bytes with keep_source_rgb (else null), as long
};

class Source {
 public:
  virtual ~Source() = default;
  // Opens the source; on failure returns nullptr and sets `error` to one line.
  static std::unique_ptr<Source> open(const SourceOptions& options, std::string& error);
  enum class Next { frame, end, error };
  // The next frame (blocks until one is there). end: the stream ended or stop was set; error: `error` says why.
  virtual Next next(SourceFrame& frame, std::string& error) = 0;
  virtual bool live() const = 0;
  virtual size_t dropped() const = 0;  // frames the source decoded but nobody took (live sources)
  virtual std::string describe() const = 0;
};

// FFmpeg's sources (source.cpp); without FFmpeg at configure time, an error that says so.
std::unique_ptr<Source> open_ffmpeg_source(const SourceOptions& options, std::string& error);

}  // namespace slimcodec_device
