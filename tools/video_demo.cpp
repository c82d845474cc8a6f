// Real video end to end: decodes a video with FFmpeg (libavformat/libavcodec), and for each deadline
// plays its frames through the adaptive DeviceLoop -> emulated link (LinkShaper, a stepped rate) -> decode service
// with the detection backend (native reconstructor + LibTorch teacher tail + CenterNet decoding), and writes what
// the device received: DIR/device.jsonl, one line per frame and deadline (frame index, deadline, s, b, bytes,
// round trip, deadline met, the detections in the frame's pixels). tools/video_report.py turns it into the
// annotated video, the contact sheet and mAP against the full teacher.
//
//   slimcodec-video-demo [--video FILE] [--frames N] [--every K] [--deadlines MS,MS] [--rates B/S,B/S,...]
//                        [--step-s S] [--weights W] [--tail teacher_tail.pt] [--accuracy TABLE.json] --out DIR
#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/device/device_loop.hpp>
#include <emulation/link_shaper.hpp>
#include <emulation/link_trace.hpp>
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/server/detection.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/server/tcp_service.hpp>
#include <slimcodec/weights/safetensors.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace slimcodec;
using namespace slimcodec::device;
using namespace slimcodec::emulation;

namespace {

struct Options {
  std::string video = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
  std::string weights = SLIMCODEC_DETECTION_WEIGHTS;
  std::string tail = SLIMCODEC_DETECTION_DIR "/teacher_tail.pt";
  std::string accuracy = SLIMCODEC_DETECTION_ACCURACY;  // the table published with the weights
  std::string out;
  size_t frames = 48, every = 8;
  std::vector<double> deadlines{1500, 3000};
  std::vector<double> rates{60e3, 15e3, 30e3};  // bytes/s, each for step_s seconds, then repeating
  double step_s = 8;
};

constexpr int kModelInput = SLIMCODEC_DETECTION_INPUT;  // the teacher's input side; the encoder sees half of it

struct Frame {
  size_t index = 0;
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
};

// Every `every`-th frame, up to `max_frames`, as packed RGB24. Empty on any FFmpeg failure (printed).
std::vector<Frame> decode_video(const std::string& path, size_t every, size_t max_frames) {
  std::vector<Frame> out;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    return out;
  }
  struct CloseFormat {
    AVFormatContext*& f;
    ~CloseFormat() { avformat_close_input(&f); }
  } close_format{fmt};
  if (avformat_find_stream_info(fmt, nullptr) < 0) return out;
  const int stream = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream < 0) return out;
  const AVCodec* codec = avcodec_find_decoder(fmt->streams[stream]->codecpar->codec_id);
  if (codec == nullptr) return out;
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(ctx, fmt->streams[stream]->codecpar);
  if (avcodec_open2(ctx, codec, nullptr) < 0) return out;
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  SwsContext* sws = nullptr;
  size_t index = 0;
  auto take = [&]() {
    while (avcodec_receive_frame(ctx, frame) == 0) {
      if (index % every == 0 && out.size() < max_frames) {
        Frame f;
        f.index = index;
        f.width = frame->width;
        f.height = frame->height;
        f.rgb.resize(size_t(f.width) * f.height * 3);
        sws = sws_getCachedContext(sws, frame->width, frame->height, AVPixelFormat(frame->format), frame->width,
                                   frame->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
        uint8_t* dst[1] = {f.rgb.data()};
        const int dst_stride[1] = {3 * f.width};
        sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
        out.push_back(std::move(f));
      }
      ++index;
    }
  };
  while (out.size() < max_frames && av_read_frame(fmt, packet) >= 0) {
    if (packet->stream_index == stream && avcodec_send_packet(ctx, packet) == 0) take();
    av_packet_unref(packet);
  }
  avcodec_send_packet(ctx, nullptr);
  take();
  sws_freeContext(sws);
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&ctx);
  return out;
}

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> v;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(',', pos), text.size());
    double x = 0;
    const auto r = std::from_chars(text.data() + pos, text.data() + end, x);
    if (r.ec != std::errc{} || r.ptr != text.data() + end || !(x > 0)) return {};
    v.push_back(x);
    pos = end + 1;
  }
  return v;
}

bool parse_size(const char* text, size_t& out) {
  const std::string s(text);
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = v != nullptr;
    if (a == "--video" && v) o.video = v;
    else if (a == "--weights" && v) o.weights = v;
    else if (a == "--tail" && v) o.tail = v;
    else if (a == "--accuracy" && v) o.accuracy = v;
    else if (a == "--out" && v) o.out = v;
    else if (a == "--frames" && v) ok = parse_size(v, o.frames);
    else if (a == "--every" && v) ok = parse_size(v, o.every);
    else if (a == "--deadlines" && v) ok = !(o.deadlines = parse_list(v)).empty();
    else if (a == "--rates" && v) ok = !(o.rates = parse_list(v)).empty();
    else if (a == "--step-s" && v) ok = !parse_list(v).empty() && (o.step_s = parse_list(v)[0]) > 0;
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "bad or unknown argument: %s (see the comment at the top of tools/video_demo.cpp)\n", a.c_str());
      return 2;
    }
    ++i;
  }
  if (o.out.empty()) return std::fprintf(stderr, "--out DIR is required\n"), 2;
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);

  const std::vector<Frame> frames = decode_video(o.video, o.every, o.frames);
  if (frames.empty()) return std::fprintf(stderr, "no frames decoded from %s\n", o.video.c_str()), 1;
  const int fw = frames[0].width, fh = frames[0].height;
  std::printf("video %s: %zu frames (every %zu-th), %dx%d\n", o.video.c_str(), frames.size(), o.every, fw, fh);

  // Device: the encoder at half the model input, trained weights.
  const int side = kModelInput / 2;
  auto enc = model::Encoder<layers::paper::Encoder>::create(side, side);
  if (!enc) return std::fprintf(stderr, "encoder: %s\n", enc.error().what()), 1;
  auto file = weights::SafeTensorsFile::open(o.weights);
  if (!file) return std::fprintf(stderr, "weights %s: %s\n", o.weights.c_str(), file.error().what()), 1;
  if (auto loaded = enc->load(*file, "encoder"); !loaded) return std::fprintf(stderr, "encoder weights: %s\n", loaded.error().what()), 1;
  std::vector<std::vector<float>> inputs(frames.size(), std::vector<float>(size_t(3) * side * side));
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!io::preprocess_rgb_u8(frames[i].rgb.data(), size_t(fw), size_t(fh), size_t(3 * fw), inputs[i].data(),
                               size_t(side), size_t(side)))
      return std::fprintf(stderr, "preprocess failed\n"), 1;
  }
  auto accuracy = load_accuracy_table(o.accuracy);
  if (!accuracy) return std::fprintf(stderr, "accuracy table %s: %s\n", o.accuracy.c_str(), accuracy.error().what()), 1;

  // Server: the decode service with the detection backend, behind the emulated link.
  server::register_detection_backends();
  asio::io_context service_io, shaper_io;
  server::ServiceOptions so;
  so.workers = 1;
  so.backend = "detect-native";
  so.backend_options = {{"weights", o.weights}, {"tail", o.tail}, {"threads", "1"}, {"max_pixels", "16384"}};
  auto service = server::TcpService::create(service_io, so);
  if (!service) return std::fprintf(stderr, "decode service: %s\n", service.error().what()), 1;
  (*service)->start();
  std::vector<TracePoint> points;
  for (size_t k = 0; k < 64; ++k) points.push_back({double(k) * o.step_s, o.rates[k % o.rates.size()]});
  auto trace = LinkTrace::from_points(points);
  if (!trace) return std::fprintf(stderr, "trace: %s\n", trace.error().what()), 1;
  ShaperOptions sh;
  sh.upstream_port = (*service)->port();
  auto shaper = LinkShaper::create(shaper_io, *trace, sh);
  if (!shaper) return std::fprintf(stderr, "link shaper: %s\n", shaper.error().what()), 1;
  (*shaper)->start();
  std::thread service_thread([&] { service_io.run(); });
  std::thread shaper_thread([&] { shaper_io.run(); });
  int status = 0;
  {
    TcpTransport link;
    if (auto c = link.connect("127.0.0.1", (*shaper)->port()); !c) {
      std::fprintf(stderr, "connect: %s\n", c.error().what());
      status = 1;
    }
    const std::string path = o.out + "/device.jsonl";
    std::FILE* out = std::fopen(path.c_str(), "w");
    if (out == nullptr) status = 1;
    for (size_t di = 0; status == 0 && di < o.deadlines.size(); ++di) {
      const double deadline = o.deadlines[di];
      OperatingPointTable table(size_t(6) * (side / 4) * (side / 4));
      apply_accuracy_table(*accuracy, table);
      DeviceLoopOptions lo;
      lo.controller.deadline_ms = deadline;
      lo.prior_bytes_per_s = o.rates[0] / 2;
      lo.reply_timeout = std::chrono::milliseconds(int64_t(4 * deadline));
      lo.box_scale_x = float(fw) / float(kModelInput);  // model-input pixels -> the video's
      lo.box_scale_y = float(fh) / float(kModelInput);
      DeviceLoop<model::Encoder<layers::paper::Encoder>> loop(*enc, link, table, lo);
      (*shaper)->restart_trace();
      loop.set_epoch((*shaper)->trace_epoch());
      size_t hits = 0, answered = 0;
      for (size_t i = 0; i < frames.size(); ++i) {
        auto r = loop.process(inputs[i].data());
        if (!r) {
          std::fprintf(stderr, "frame %zu: %s\n", frames[i].index, r.error().what());
          status = 1;
          break;
        }
        hits += r->deadline_met;
        answered += r->status == Errc::ok;
        std::fprintf(out,
                     "{\"frame\": %zu, \"deadline_ms\": %g, \"frame_id\": %u, \"plan\": %d, \"s\": %u, \"b\": %u, "
                     "\"bytes\": %zu, \"rtt_ms\": %.1f, \"server_ms\": %.1f, \"deadline_met\": %s, \"status\": %d, "
                     "\"width\": %d, \"height\": %d, \"detections\": [",
                     frames[i].index, deadline, r->frame_id, int(r->plan), r->s, r->b, r->bytes, r->rtt_ms,
                     r->server_ms, r->deadline_met ? "true" : "false", int(r->status), fw, fh);
        for (size_t k = 0; k < r->detection_count; ++k) {
          const wire::Detection& d = r->detections[k];
          std::fprintf(out, "%s[%u, %.4f, %.2f, %.2f, %.2f, %.2f]", k ? ", " : "", d.class_id, d.score, d.x1, d.y1,
                       d.x2, d.y2);
        }
        std::fprintf(out, "]}\n");
        std::printf("[%g ms] frame %4zu  s=%u b=%u %6zu B  rtt %7.1f ms (server %6.1f)  %2u detections  %s\n",
                    deadline, frames[i].index, r->s, r->b, r->bytes, r->rtt_ms, r->server_ms, r->detection_count,
                    r->deadline_met ? "hit" : "MISS");
      }
      std::printf("--- deadline %g ms: %zu of %zu frames within the deadline, %zu answered\n", deadline, hits,
                  frames.size(), answered);
    }
    if (out) std::fclose(out);
    link.close();
    std::printf("wrote %s\n", path.c_str());
  }
  (*shaper)->shutdown();
  shaper_io.stop();
  (*service)->shutdown();
  shaper_thread.join();
  service_thread.join();
  return status;
}
