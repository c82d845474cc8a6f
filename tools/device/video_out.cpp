// slimcodec-device's annotated video (video_out.hpp): boxes drawn into RGB, libswscale to YUV 4:2:0, libavcodec,
// libavformat.
#include "video_out.hpp"
#include "av_error.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <vector>

namespace slimcodec_device {
namespace {

// One colour per class (mod 8), 2-pixel outlines, clipped to the frame.
void draw_box(uint8_t* rgb, int w, int h, const Box& b) {
  static constexpr uint8_t kColours[8][3] = {{255, 64, 64}, {64, 255, 64}, {64, 128, 255}, {255, 255, 0},
                                             {255, 0, 255}, {0, 255, 255}, {255, 160, 0},  {255, 255, 255}};
  const uint8_t* c = kColours[b.class_id % 8];
  if (!(std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2))) return;
  const int x1 = std::clamp(int(std::lround(std::min(b.x1, b.x2))), 0, w - 1);
  const int x2 = std::clamp(int(std::lround(std::max(b.x1, b.x2))), 0, w - 1);
  const int y1 = std::clamp(int(std::lround(std::min(b.y1, b.y2))), 0, h - 1);
  const int y2 = std::clamp(int(std::lround(std::max(b.y1, b.y2))), 0, h - 1);
  auto put = [&](int x, int y) { std::copy(c, c + 3, rgb + (size_t(y) * w + x) * 3); };
  for (int t = 0; t < 2; ++t) {
    for (int x = x1; x <= x2; ++x) {
      put(x, std::min(y1 + t, h - 1));
      put(x, std::max(y2 - t, 0));
    }
    for (int y = y1; y <= y2; ++y) {
      put(std::min(x1 + t, w - 1), y);
      put(std::max(x2 - t, 0), y);
    }
  }
}

class FfmpegVideoOut final : public VideoOut {
 public:
  ~FfmpegVideoOut() override {
    std::string ignored;
    close(ignored);
    sws_freeContext(sws_);
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&ctx_);
    avformat_free_context(fmt_);
  }

  bool create(const std::string& path, std::string& error) {
    path_ = path;
    if (avformat_alloc_output_context2(&fmt_, nullptr, nullptr, path.c_str()) < 0 || fmt_ == nullptr)
      return error = "--video-out " + path + ": no container for this file name (use .mp4, .mkv or .avi)", false;
    codec_ = avcodec_find_encoder_by_name("libx264");
    if (codec_ == nullptr || avformat_query_codec(fmt_->oformat, codec_->id, FF_COMPLIANCE_NORMAL) != 1)
      codec_ = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (codec_ == nullptr) return error = "--video-out: this FFmpeg has neither an H.264 nor an MPEG-4 encoder", false;
    return true;
  }

  bool write(const uint8_t* rgb, int width, int height, double pts_s, const Box* boxes, size_t count,
             std::string& error) override {
    if (closed_) return error = "the annotated video is closed", false;
    if (ctx_ == nullptr && !open(width, height, error)) return false;
    if (width != width_ || height != height_) return error = "the source changed its frame size mid-stream", false;
    canvas_.assign(rgb, rgb + size_t(3) * width * height);
    for (size_t i = 0; i < count; ++i) draw_box(canvas_.data(), width, height, boxes[i]);
    if (int e = av_frame_make_writable(frame_); e < 0) return error = "video frame: " + av_error(e), false;
    const uint8_t* src[1] = {canvas_.data()};
    const int stride[1] = {3 * width};
    sws_scale(sws_, src, stride, 0, height, frame_->data, frame_->linesize);
    if (frames_ == 0) first_pts_s_ = pts_s;
    int64_t pts = std::llround((pts_s - first_pts_s_) * 1000.0);  // time base 1/1000
    if (pts <= last_pts_) pts = last_pts_ + 1;                       // strictly increasing
    if (last_pts_ >= 0) interval_ = pts - last_pts_;
    frame_->pts = last_pts_ = pts;
    if (!encode(frame_, error)) return false;
    ++frames_;
    return true;
  }

  bool close(std::string& error) override {
    if (closed_) return true;
    closed_ = true;
    if (!header_written_) {  // no frame (no file), or the file could not be started
      if (fmt_ != nullptr && fmt_->pb != nullptr && !(fmt_->oformat->flags & AVFMT_NOFILE)) avio_closep(&fmt_->pb);
      return true;
    }
    bool ok = encode(nullptr, error);
    if (int e = av_write_trailer(fmt_); e < 0 && ok) ok = (error = "video trailer: " + av_error(e), false);
    if (!(fmt_->oformat->flags & AVFMT_NOFILE)) avio_closep(&fmt_->pb);
    return ok;
  }

  size_t frames() const override { return frames_; }

 private:
  bool open(int width, int height, std::string& error) {
    width_ = width;
    height_ = height;
    ctx_ = avcodec_alloc_context3(codec_);
    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
    AVStream* stream = avformat_new_stream(fmt_, nullptr);
    if (ctx_ == nullptr || frame_ == nullptr || packet_ == nullptr || stream == nullptr)
      return error = "out of memory", false;
    ctx_->width = width & ~1;  // 4:2:0 wants even sizes: an odd last column or row is left out
    ctx_->height = height & ~1;
    ctx_->pix_fmt = AV_PIX_FMT_YUV420P;
    ctx_->time_base = AVRational{1, 1000};
    ctx_->thread_count = 1;
    ctx_->gop_size = 12;
    ctx_->max_b_frames = 0;  // every packet is a frame as soon as it is encoded: a stop loses nothing
    if (codec_->id == AV_CODEC_ID_MPEG4) {
      ctx_->flags |= AV_CODEC_FLAG_QSCALE;
      ctx_->global_quality = FF_QP2LAMBDA * 4;
    }
    if (fmt_->oformat->flags & AVFMT_GLOBALHEADER) ctx_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary* options = nullptr;
    if (codec_->id == AV_CODEC_ID_H264) {
      av_dict_set(&options, "preset", "veryfast", 0);
      av_dict_set(&options, "tune", "zerolatency", 0);  // no lookahead: each frame out at once, 16.6 MiB less RSS
    }
    const int opened = avcodec_open2(ctx_, codec_, &options);
    av_dict_free(&options);
    if (opened < 0) return error = std::string("video encoder ") + codec_->name + ": " + av_error(opened), false;
    avcodec_parameters_from_context(stream->codecpar, ctx_);
    stream->time_base = ctx_->time_base;
    frame_->format = ctx_->pix_fmt;
    frame_->width = ctx_->width;
    frame_->height = ctx_->height;
    if (int e = av_frame_get_buffer(frame_, 0); e < 0) return error = "video frame: " + av_error(e), false;
    sws_ = sws_getContext(width, height, AV_PIX_FMT_RGB24, ctx_->width, ctx_->height, AV_PIX_FMT_YUV420P,
                          SWS_BILINEAR, nullptr, nullptr, nullptr);
    if (sws_ == nullptr) return error = "video scaler: cannot convert RGB to YUV 4:2:0", false;
    if (!(fmt_->oformat->flags & AVFMT_NOFILE)) {
      if (int e = avio_open(&fmt_->pb, path_.c_str(), AVIO_FLAG_WRITE); e < 0)
        return error = "cannot write " + path_ + ": " + av_error(e), false;
    }
    if (int e = avformat_write_header(fmt_, nullptr); e < 0)
      return error = "video header " + path_ + ": " + av_error(e), false;
    header_written_ = true;
    return true;
  }

  // Sends a frame (nullptr: flush) and writes every packet the encoder has ready.
  bool encode(AVFrame* frame, std::string& error) {
    if (int e = avcodec_send_frame(ctx_, frame); e < 0) return error = "video encoder: " + av_error(e), false;
    for (;;) {
      const int got = avcodec_receive_packet(ctx_, packet_);
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return true;
      if (got < 0) return error = "video encoder: " + av_error(got), false;
      // Each frame lasts until the next; the last as long as the one before (MP4 leaves a 0-length one out).
      if (packet_->duration <= 0) packet_->duration = interval_;
      av_packet_rescale_ts(packet_, ctx_->time_base, fmt_->streams[0]->time_base);
      packet_->stream_index = 0;
      const int written = av_interleaved_write_frame(fmt_, packet_);
      av_packet_unref(packet_);
      if (written < 0) return error = "writing " + path_ + ": " + av_error(written), false;
    }
  }

  std::string path_;
  AVFormatContext* fmt_ = nullptr;
  const AVCodec* codec_ = nullptr;
  AVCodecContext* ctx_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* sws_ = nullptr;
  std::vector<uint8_t> canvas_;
  int width_ = 0, height_ = 0;
  double first_pts_s_ = 0;
  int64_t last_pts_ = -1, interval_ = 40;  // ms
  size_t frames_ = 0;
  bool closed_ = false, header_written_ = false;
};

}  // namespace

std::unique_ptr<VideoOut> VideoOut::create(const std::string& path, std::string& error) {
  av_log_set_level(AV_LOG_FATAL);  // our one line says what failed
  auto v = std::make_unique<FfmpegVideoOut>();
  return v->create(path, error) ? std::move(v) : nullptr;
}

}  // namespace slimcodec_device
