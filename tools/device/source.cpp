// slimcodec-device's FFmpeg sources (source.hpp): files, cameras, streams, scaled with libswscale.
#include "source.hpp"
#include "av_error.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#ifdef SLIMCODEC_DEVICE_HAVE_AVDEVICE
#include <libavdevice/version.h>  // the soname only: the library itself is loaded when a camera is opened
#endif
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <dlfcn.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace slimcodec_device {
namespace {

// libavdevice (V4L2 and the other capture devices) is loaded only when a camera is opened: linked, it brings ~80
// more shared libraries (SDL, X11, PulseAudio, libavfilter, ...) and 20 MiB of resident pages into every run
// (docs/device.md, "Memory").
bool register_capture_devices(std::string& error) {
#ifdef SLIMCODEC_DEVICE_HAVE_AVDEVICE
  static bool done = false;
  if (done) return true;
  const std::string soname = "libavdevice.so." + std::to_string(LIBAVDEVICE_VERSION_MAJOR);
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (lib == nullptr) return error = "cannot load " + soname + " for camera input: " + dlerror(), false;
  auto register_all = reinterpret_cast<void (*)()>(dlsym(lib, "avdevice_register_all"));
  if (register_all == nullptr) return error = soname + " has no avdevice_register_all", false;
  register_all();
  return done = true;
#else
  return error = "this build has no camera input (libavdevice-dev at configure time)", false;
#endif
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Packed RGB24 of any size -> the model input, RGB24 (one cached SwsContext).
class Scaler {
 public:
  ~Scaler() { sws_freeContext(sws_); }
  bool scale(const uint8_t* const* data, const int* linesize, int w, int h, AVPixelFormat format, uint8_t* out,
             int out_w, int out_h) {
    sws_ = sws_getCachedContext(sws_, w, h, format, out_w, out_h, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr,
                                nullptr);
    if (sws_ == nullptr) return false;
    uint8_t* dst[1] = {out};
    const int dst_stride[1] = {3 * out_w};
    return sws_scale(sws_, data, linesize, 0, h, dst, dst_stride) == out_h;
  }

 private:
  SwsContext* sws_ = nullptr;
};

// ---- FFmpeg: files, cameras, streams

class FfmpegSource final : public Source {
 public:
  explicit FfmpegSource(const SourceOptions& o) : o_(o) { front_.model.resize(size_t(3) * o.out_width * o.out_height); }

  ~FfmpegSource() override {
    closing_ = true;
    if (thread_.joinable()) thread_.join();
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&ctx_);
    avformat_close_input(&fmt_);
  }

  bool open(std::string& error) {
    const std::string& in = o_.input;
    const bool camera = o_.format == "v4l2" || o_.format == "video4linux2" ||
                        (o_.format.empty() && in.rfind("/dev/video", 0) == 0);
    const bool url = in.find("://") != std::string::npos && in.rfind("file:", 0) != 0;
    kind_ = camera ? "camera" : url ? "stream" : "video file";
    live_ = o_.live >= 0 ? o_.live == 1 : camera || url;
    av_log_set_level(AV_LOG_FATAL);  // our one line says what failed; FFmpeg's own messages would add more
    if (url) avformat_network_init();
    const AVInputFormat* format = nullptr;
    if (camera || !o_.format.empty()) {
      const char* name = camera ? "video4linux2" : o_.format.c_str();
      format = camera ? nullptr : av_find_input_format(name);  // a demuxer (mjpeg, ...), else a capture device
      if (format == nullptr && !register_capture_devices(error)) return false;
      if (format == nullptr) format = av_find_input_format(name);
      if (format == nullptr) return error = "unknown input format '" + o_.format + "' (this FFmpeg lacks it)", false;
    }
    AVDictionary* options = nullptr;
    if (!o_.video_size.empty()) av_dict_set(&options, "video_size", o_.video_size.c_str(), 0);
    if (!o_.framerate.empty()) av_dict_set(&options, "framerate", o_.framerate.c_str(), 0);
    if (url) av_dict_set(&options, "rw_timeout", "10000000", 0);  // 10 s without data: the stream failed
    fmt_ = avformat_alloc_context();
    if (fmt_ == nullptr) return error = "out of memory", false;
    fmt_->interrupt_callback.callback = &FfmpegSource::interrupted;
    fmt_->interrupt_callback.opaque = this;
    const int opened = avformat_open_input(&fmt_, in.c_str(), format, &options);
    av_dict_free(&options);
    if (opened < 0) return error = "cannot open " + kind_ + " " + in + ": " + av_error(opened), false;
    if (int e = avformat_find_stream_info(fmt_, nullptr); e < 0)
      return error = "cannot read " + kind_ + " " + in + ": " + av_error(e), false;
    const AVCodec* codec = nullptr;
    stream_ = av_find_best_stream(fmt_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream_ < 0 || codec == nullptr) return error = "no decodable video stream in " + in, false;
    ctx_ = avcodec_alloc_context3(codec);
    packet_ = av_packet_alloc();
    frame_ = av_frame_alloc();
    if (ctx_ == nullptr || packet_ == nullptr || frame_ == nullptr) return error = "out of memory", false;
    avcodec_parameters_to_context(ctx_, fmt_->streams[stream_]->codecpar);
    ctx_->thread_count = 1;  // one decode thread: the device's core belongs to the encoder
    if (int e = avcodec_open2(ctx_, codec, nullptr); e < 0)
      return error = "cannot decode " + in + " (" + codec->name + "): " + av_error(e), false;
    time_base_ = av_q2d(fmt_->streams[stream_]->time_base);
    start_ = std::chrono::steady_clock::now();
    if (live_) {
      back_.model.resize(front_.model.size());
      shared_.model.resize(front_.model.size());
      thread_ = std::thread([this] { capture(); });
    }
    return true;
  }

  Next next(SourceFrame& f, std::string& error) override {
    if (!live_) {
      const Next n = decode(f, front_, error);
      front_.point(f);
      return n;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    while (!fresh_ && !ended_) {
      if (o_.stop != nullptr && o_.stop->load()) return Next::end;
      ready_.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (!fresh_) {
      error = error_;
      return error_.empty() ? Next::end : Next::error;
    }
    std::swap(front_, shared_);
    f = shared_frame_;
    front_.point(f);
    fresh_ = false;
    return Next::frame;
  }

  bool live() const override { return live_; }
  size_t dropped() const override { return dropped_.load(); }
  std::string describe() const override {
    return kind_ + " " + o_.input + (live_ ? " (live: newest frame wins)" : "");
  }

 private:
  static int interrupted(void* self) {
    auto* s = static_cast<FfmpegSource*>(self);
    return s->closing_.load() || (s->o_.stop != nullptr && s->o_.stop->load()) ? 1 : 0;
  }

  // The live sources' thread: decode continuously, publish the newest frame, count the ones nobody took.
  void capture() {
    for (;;) {
      SourceFrame f;
      std::string error;
      const Next n = decode(f, back_, error);
      if (n == Next::frame && kind_ == "video file") pace(f.pts_s);
      std::lock_guard<std::mutex> lock(mutex_);
      if (n != Next::frame) {
        ended_ = true;
        if (!closing_ && !(o_.stop != nullptr && o_.stop->load())) error_ = error;
        ready_.notify_all();
        return;
      }
      if (fresh_) ++dropped_;  // the previous frame was never taken
      std::swap(back_, shared_);
      shared_frame_ = f;
      fresh_ = true;
      ready_.notify_all();
    }
  }

  // A file played live comes at its own rate, as a camera's frames would (the first frame sets the clock).
  void pace(double pts_s) {
    const auto now = std::chrono::steady_clock::now();
    if (!paced_) {
      paced_ = true;
      pace_origin_ = now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(pts_s));
    }
    const auto due = pace_origin_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(pts_s));
    while (!closing_.load() && !(o_.stop != nullptr && o_.stop->load()) && std::chrono::steady_clock::now() < due)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - std::chrono::steady_clock::now(),
                                                                               std::chrono::milliseconds(20)));
  }

  // A frame's pixels: at the model input, and at the source's own size when kept.
  struct Buffers {
    std::vector<uint8_t> model, source;
    void point(SourceFrame& f) const {
      f.rgb = model.data();
      f.source_rgb = source.empty() ? nullptr : source.data();
    }
  };

  // The next decoded frame, scaled into `out`.
  Next decode(SourceFrame& f, Buffers& out, std::string& error) {
    for (;;) {
      const int got = avcodec_receive_frame(ctx_, frame_);
      if (got == 0) {
        f.index = index_++;
        f.width = frame_->width;
        f.height = frame_->height;
        f.rgb_width = o_.out_width;
        f.rgb_height = o_.out_height;
        const int64_t pts = frame_->best_effort_timestamp;
        f.pts_s = pts != AV_NOPTS_VALUE ? double(pts) * time_base_ : seconds_since(start_);
        const AVPixelFormat format = AVPixelFormat(frame_->format);
        bool scaled = scaler_.scale(frame_->data, frame_->linesize, f.width, f.height, format, out.model.data(),
                                    o_.out_width, o_.out_height);
        if (scaled && o_.keep_source_rgb) {
          out.source.resize(size_t(3) * f.width * f.height);
          scaled = source_scaler_.scale(frame_->data, frame_->linesize, f.width, f.height, format,
                                        out.source.data(), f.width, f.height);
        }
        if (!scaled)
          return error = "cannot scale a " + std::to_string(f.width) + "x" + std::to_string(f.height) + " frame",
                 Next::error;
        av_frame_unref(frame_);
        return Next::frame;
      }
      if (got == AVERROR_EOF) return Next::end;
      if (got != AVERROR(EAGAIN)) return error = "decoding " + o_.input + ": " + av_error(got), Next::error;
      if (flushing_) return Next::end;
      const int read = av_read_frame(fmt_, packet_);
      if (read == AVERROR_EXIT) return Next::end;  // interrupted: stop was set
      if (read < 0) {
        if (read != AVERROR_EOF && !live_) return error = "reading " + o_.input + ": " + av_error(read), Next::error;
        if (read != AVERROR_EOF) return error = "the " + kind_ + " failed: " + av_error(read), Next::error;
        avcodec_send_packet(ctx_, nullptr);  // drain the decoder
        flushing_ = true;
        continue;
      }
      if (packet_->stream_index == stream_) {
        const int sent = avcodec_send_packet(ctx_, packet_);
        if (sent < 0 && sent != AVERROR(EAGAIN) && sent != AVERROR_INVALIDDATA) {
          av_packet_unref(packet_);
          return error = "decoding " + o_.input + ": " + av_error(sent), Next::error;
        }
      }
      av_packet_unref(packet_);
    }
  }

  SourceOptions o_;
  std::string kind_;
  bool live_ = false, flushing_ = false;
  AVFormatContext* fmt_ = nullptr;
  AVCodecContext* ctx_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
  Scaler scaler_, source_scaler_;
  int stream_ = -1;
  double time_base_ = 0;
  size_t index_ = 0;
  std::chrono::steady_clock::time_point start_, pace_origin_;
  bool paced_ = false;
  Buffers front_, back_, shared_;  // the caller's frame; the thread's; the newest published
  // Live sources: the capture thread and the newest frame it published.
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable ready_;
  SourceFrame shared_frame_;
  bool fresh_ = false, ended_ = false;
  std::string error_;
  std::atomic<size_t> dropped_{0};
  std::atomic<bool> closing_{false};
};

}  // namespace

std::unique_ptr<Source> open_ffmpeg_source(const SourceOptions& options, std::string& error) {
  auto s = std::make_unique<FfmpegSource>(options);
  return s->open(error) ? std::move(s) : nullptr;
}

}  // namespace slimcodec_device
