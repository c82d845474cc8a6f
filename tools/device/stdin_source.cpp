// slimcodec-device's raw source (source.hpp): RGB24 frames on stdin, width x height x 3 bytes each, no header, for
// boards that run their own capture. No FFmpeg: the frame goes as it is to the encoder's preprocessing, which
// resizes it (io::preprocess_rgb_u8, bilinear as in training). Also where a source is chosen.
#include "source.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace slimcodec_device {
namespace {

bool parse_int(const std::string& text, int& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc{} && r.ptr == text.data() + text.size();
}

// "WxH" with both in 1..16384.
bool parse_video_size(const std::string& text, int& w, int& h) {
  const size_t x = text.find('x');
  return x != std::string::npos && parse_int(text.substr(0, x), w) && parse_int(text.substr(x + 1), h) && w > 0 &&
         h > 0 && w <= 16384 && h <= 16384;
}

class StdinSource final : public Source {
 public:
  explicit StdinSource(const SourceOptions& o) : o_(o) {}

  bool open(std::string& error) {
    if (o_.video_size.empty() || !parse_video_size(o_.video_size, width_, height_))
      return error = "raw frames on stdin need --video-size WxH", false;
    if (!o_.framerate.empty()) {
      const char* s = o_.framerate.c_str();
      char* end = nullptr;
      rate_ = std::strtod(s, &end);
      if (end == s || *end != '\0' || !(rate_ > 0 && rate_ <= 1000))
        return error = "bad --framerate '" + o_.framerate + "'", false;
    }
    if (o_.live == 1) return error = "--live is for cameras and streams; raw stdin frames are taken in order", false;
    in_.resize(size_t(3) * width_ * height_);
    start_ = std::chrono::steady_clock::now();
    return true;
  }

  Next next(SourceFrame& f, std::string& error) override {
    size_t got = 0;
    while (got < in_.size()) {
      const ssize_t n = ::read(0, in_.data() + got, in_.size() - got);
      if (n > 0) {
        got += size_t(n);
      } else if (n == 0) {
        if (got != 0)
          std::fprintf(stderr, "slimcodec-device: stdin ended inside a frame (%zu of %zu bytes); it is skipped\n", got,
                       in_.size());
        return Next::end;
      } else if (errno != EINTR) {
        return error = std::string("reading stdin: ") + std::strerror(errno), Next::error;
      }
      if (o_.stop != nullptr && o_.stop->load()) return Next::end;
    }
    f.index = index_++;
    f.pts_s = rate_ > 0 ? double(f.index) / rate_
                        : std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    f.width = f.rgb_width = width_;
    f.height = f.rgb_height = height_;
    f.rgb = in_.data();
    f.source_rgb = o_.keep_source_rgb ? in_.data() : nullptr;
    return Next::frame;
  }

  bool live() const override { return false; }
  size_t dropped() const override { return 0; }
  std::string describe() const override { return "raw RGB24 " + o_.video_size + " frames on stdin"; }

 private:
  SourceOptions o_;
  int width_ = 0, height_ = 0;
  double rate_ = 0;
  size_t index_ = 0;
  std::vector<uint8_t> in_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::unique_ptr<Source> Source::open(const SourceOptions& options, std::string& error) {
  if (options.input == "-") {
    auto s = std::make_unique<StdinSource>(options);
    return s->open(error) ? std::move(s) : nullptr;
  }
  return open_ffmpeg_source(options, error);
}

#ifndef SLIMCODEC_DEVICE_HAVE_FFMPEG
std::unique_ptr<Source> open_ffmpeg_source(const SourceOptions& options, std::string& error) {
  error = "cannot open " + options.input + ": this build reads raw RGB24 frames on stdin only (-i -; FFmpeg's "
          "libraries were not found at configure time)";
  return nullptr;
}
#endif

}  // namespace slimcodec_device
