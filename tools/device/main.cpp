// slimcodec-device: the program a board runs (docs/device.md). Frames from a video file, a V4L2 camera, a network
// stream or raw RGB on stdin -> the slimmable encoder with the adaptive controller (or a fixed s, b) -> frames over
// TCP to slimcodec-decode-service (or MQTT 5) -> the replies' detections as JSON Lines. Options -> objects -> one
// loop; the pieces are the library's (device/device_loop.hpp and friends) and this folder's source and link.
#include <slimcodec/device/accuracy_table.hpp>
#include <slimcodec/device/calibration.hpp>
#include <slimcodec/device/device_loop.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#include <slimcodec/weights/safetensors.hpp>

// After Highway: Asio brings <termios.h>, whose B0 macro breaks Highway's AVX-512 generic ops.
#include "../cli_args.hpp"
#include "link.hpp"
#include "report.hpp"
#include "source.hpp"
#ifdef SLIMCODEC_DEVICE_HAVE_FFMPEG
#include "video_out.hpp"
#endif

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace slimcodec;
using namespace slimcodec_device;

namespace {

constexpr const char* kUsage = R"(usage: slimcodec-device --input SRC [options]

Reads frames, encodes them with the slimmable encoder, sends them to slimcodec-decode-service and writes each
reply (detections in the source frame's pixels) as one JSON line; a summary line ends the output. SIGINT/SIGTERM
finish the current frame, write the summary and exit 0. docs/device.md has the details.

input:
  -i, --input SRC         a video file, a V4L2 camera (/dev/videoN), a stream URL (rtsp://, http://, ...), or -
                          for raw RGB24 frames on stdin (with --video-size)
  --format NAME           FFmpeg input format (e.g. v4l2, mjpeg); default: guessed
  --video-size WxH        the camera's capture size; the size of raw stdin frames
  --framerate R           the camera's frame rate; raw stdin frames' nominal rate (their timestamps)
  --live, --no-live       live: keep only the newest frame, drop the others (default for cameras and URLs; a file
                          played --live is paced at its own frame rate, like a camera)
  --every K               take every K-th frame of a non-live source (default 1)
  --frames N              stop after sending N frames
model:
  --weights FILE          encoder weights (default: the published model, SLIMCODEC_WEIGHTS)
  --size N                model input side in pixels, a multiple of 4 (default 256; the server's detector sees
                          2N x 2N)
  --entropy-tables FILE   send codec-1 (rANS) frames where smaller, with these tables (the service needs the same)
controller:
  --deadline-ms MS        round-trip deadline (default 1000)
  --fixed S,B             always s members and b bits instead of the adaptive controller
  --accuracy FILE         the accuracy table the controller maximises (default: docs/accuracy-NAME.json of the
                          weights slimcodec-NAME.safetensors)
  --prior-rate B/S        bandwidth assumed before the first reply (default 50000); later learned from replies
  --reply-timeout-ms MS   a frame unanswered this long is a miss (default 4 x deadline, at least 1000)
transport:
  --server HOST:PORT      the decode service over TCP (default 127.0.0.1:7878)
  --mqtt HOST:PORT        an MQTT 5 broker instead (docs/mqtt.md); --device-id ID (default: device-PID),
                          --topic-prefix P (default slimcodec)
output:
  -o, --output FILE       JSON Lines here (default: stdout)
  --video-out FILE        also an annotated video: each frame sent, at the source's size, with its boxes (.mp4,
                          .mkv, .avi; H.264 when FFmpeg has libx264, else MPEG-4 part 2)
  --quiet                 no progress on stderr (progress is shown only when stderr is a terminal)
  --help
)";

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};

extern "C" void on_stop_signal(int) {
  g_stop.store(true);
  if (g_signals.fetch_add(1) >= 2) _exit(130);  // a third signal: the user insists
}

struct Options {
  SourceOptions source;
  size_t every = 1, max_frames = 0;
  std::string weights = SLIMCODEC_SOURCE_DIR "/" SLIMCODEC_TRAINED_WEIGHTS;
  std::string accuracy, entropy_tables, output = "-", video_out;
  int size = 256;
  double deadline_ms = 1000, prior_rate = 50e3, reply_timeout_ms = 0;
  unsigned fixed_s = 0, fixed_b = 0;
  std::string server = "127.0.0.1:7878", mqtt, device_id, topic_prefix = "slimcodec";
  bool quiet = false;
};

using cli::parse_host_port;
using cli::parse_number;

bool parse_positive(const char* text, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v > 0) || !(v < 1e12)) return false;
  out = v;
  return true;
}

// Returns 0 to go on, or the exit status (0 after --help, 2 after a bad flag, with one line on stderr).
int parse_options(int argc, char** argv, Options& o, bool& done) {
  done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto bad = [&](const char* v) {
      if (v == nullptr) std::fprintf(stderr, "slimcodec-device: %s needs a value (see --help)\n", a.c_str());
      else std::fprintf(stderr, "slimcodec-device: bad value for %s: '%s' (see --help)\n", a.c_str(), v);
      return 2;
    };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      done = true;
      return 0;
    } else if (a == "--live") {
      o.source.live = 1;
    } else if (a == "--no-live") {
      o.source.live = 0;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "-i" || a == "--input") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.source.input = v;
    } else if (a == "--format") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.source.format = v;
    } else if (a == "--video-size") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.source.video_size = v;
    } else if (a == "--framerate") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.source.framerate = v;
    } else if (a == "--every") {
      if ((v = value()) == nullptr || !parse_number(v, o.every) || o.every < 1) return bad(v);
    } else if (a == "--frames") {
      if ((v = value()) == nullptr || !parse_number(v, o.max_frames) || o.max_frames < 1) return bad(v);
    } else if (a == "--weights") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.weights = v;
    } else if (a == "--size") {
      if ((v = value()) == nullptr || !parse_number(v, o.size) || o.size < 16 || o.size > 2048 || o.size % 4)
        return bad(v);
    } else if (a == "--entropy-tables") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.entropy_tables = v;
    } else if (a == "--deadline-ms") {
      if ((v = value()) == nullptr || !parse_positive(v, o.deadline_ms)) return bad(v);
    } else if (a == "--fixed") {
      if ((v = value()) == nullptr) return bad(v);
      const std::string t = v;
      const size_t comma = t.find(',');
      if (comma == std::string::npos || !parse_number(t.substr(0, comma).c_str(), o.fixed_s) ||
          !parse_number(t.substr(comma + 1).c_str(), o.fixed_b) || o.fixed_s < 1 || o.fixed_s > device::kMaxMembers ||
          o.fixed_b < 1 || o.fixed_b > device::kMaxBits)
        return bad(v);
    } else if (a == "--accuracy") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.accuracy = v;
    } else if (a == "--prior-rate") {
      if ((v = value()) == nullptr || !parse_positive(v, o.prior_rate)) return bad(v);
    } else if (a == "--reply-timeout-ms") {
      if ((v = value()) == nullptr || !parse_positive(v, o.reply_timeout_ms)) return bad(v);
    } else if (a == "--server") {
      std::string host;
      uint16_t port = 0;
      if ((v = value()) == nullptr || !parse_host_port(v, host, port)) return bad(v);
      o.server = v;
    } else if (a == "--mqtt") {
      std::string host;
      uint16_t port = 0;
      if ((v = value()) == nullptr || !parse_host_port(v, host, port)) return bad(v);
      o.mqtt = v;
    } else if (a == "--device-id") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.device_id = v;
    } else if (a == "--topic-prefix") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.topic_prefix = v;
    } else if (a == "--video-out") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.video_out = v;
    } else if (a == "-o" || a == "--output") {
      if ((v = value()) == nullptr || !*v) return bad(v);
      o.output = v;
    } else {
      std::fprintf(stderr, "slimcodec-device: unknown argument '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (o.source.input.empty()) {
    std::fprintf(stderr, "slimcodec-device: --input is required (a video file, /dev/videoN, a URL or -; see --help)\n");
    return 2;
  }
  return 0;
}

// docs/accuracy-NAME.json for .../slimcodec-NAME.safetensors (the table published with the weights).
std::string accuracy_beside(const std::string& weights) {
  std::string name = weights.substr(weights.find_last_of('/') + 1);
  const std::string prefix = "slimcodec-", ext = ".safetensors";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0)
    name.resize(name.size() - ext.size());
  return SLIMCODEC_SOURCE_DIR "/docs/accuracy-" + name + ".json";
}

int fail(const std::string& line) {
  std::fprintf(stderr, "slimcodec-device: %s\n", line.c_str());
  return 1;
}

using Encoder = model::Encoder<layers::paper::Encoder>;

void write_line(std::FILE* out, const SourceFrame& f, const device::FrameRecord& r, double model_side) {
  // Boxes arrive in the detector's input pixels (2 x the encoder's input: docs/wire-format.md, "Result section").
  const double sx = double(f.width) / model_side, sy = double(f.height) / model_side;
  std::fprintf(out,
               "{\"frame\": %zu, \"pts_s\": %.6f, \"frame_id\": %u, \"s\": %u, \"b\": %u, \"codec\": %d, "
               "\"bytes\": %zu, \"encode_ms\": %.2f, \"rtt_ms\": %.2f, \"server_ms\": %.2f, \"deadline_met\": %s, "
               "\"status\": %s, \"status_code\": %d, \"timestamp_us\": %llu, \"reply_timestamp_us\": %llu, \"digest\": \"%016llx\", "
               "\"width\": %d, \"height\": %d, \"detections\": [",
               f.index, f.pts_s, r.frame_id, r.s, r.b, int(r.codec), r.bytes, r.encode_ms, r.rtt_ms, r.server_ms,
               r.deadline_met ? "true" : "false", json_string(message(r.status)).c_str(), int(r.status),
               (unsigned long long)r.timestamp_us, (unsigned long long)r.reply_timestamp_us,
               (unsigned long long)r.digest, f.width, f.height);
  for (size_t k = 0; k < r.detection_count; ++k) {
    const wire::Detection& d = r.detections[k];
    std::fprintf(out, "%s{\"class\": %u, \"score\": %.4f, \"box\": [%.1f, %.1f, %.1f, %.1f]}", k ? ", " : "",
                 unsigned(d.class_id), d.score, d.x1 * sx, d.y1 * sy, d.x2 * sx, d.y2 * sy);
  }
  std::fputs("]}\n", out);
  std::fflush(out);
}

#ifdef SLIMCODEC_DEVICE_HAVE_FFMPEG
// The frame at its own size with the reply's boxes, into the annotated video.
bool annotate(VideoOut& video, const SourceFrame& f, const device::FrameRecord& r, double model_side,
              std::string& error) {
  const float sx = float(f.width / model_side), sy = float(f.height / model_side);
  std::array<Box, wire::kMaxDetections> boxes;
  for (size_t k = 0; k < r.detection_count; ++k) {
    const wire::Detection& d = r.detections[k];
    boxes[k] = Box{d.x1 * sx, d.y1 * sy, d.x2 * sx, d.y2 * sy, unsigned(d.class_id)};
  }
  return video.write(f.source_rgb, f.width, f.height, f.pts_s, boxes.data(), r.detection_count, error);
}
#endif

// Sleeps until `until` in short slices, so a signal ends the wait.
void sleep_until(Link::Clock::time_point until) {
  while (!g_stop.load() && Link::Clock::now() < until)
    std::this_thread::sleep_for(std::min<Link::Clock::duration>(until - Link::Clock::now(), std::chrono::milliseconds(50)));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool done = false;
  if (int status = parse_options(argc, argv, o, done); status != 0 || done) return status;

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: a blocking read returns and sees g_stop
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed socket or output pipe is an error return, not death

  // Everything that can be refused is checked before the output is opened: nothing half-written.
  auto enc = Encoder::create(o.size, o.size);
  if (!enc) return fail("encoder at " + std::to_string(o.size) + " x " + std::to_string(o.size) + ": " + enc.error().what());
  {
    auto file = weights::SafeTensorsFile::open(o.weights);
    if (!file) return fail("weights " + o.weights + ": " + file.error().what());
    auto loaded = enc->load(*file, "encoder");  // the training pipeline's files; a bare encoder file has no prefix
    if (!loaded) loaded = enc->load(*file, "");
    if (!loaded) return fail("weights " + o.weights + " do not hold this encoder: " + loaded.error().what());
  }
  const size_t side = size_t(o.size), values = size_t(6) * (side / 4) * (side / 4);
  device::OperatingPointTable table(values);
  if (o.fixed_s != 0) {
    table.set_accuracy(o.fixed_s, o.fixed_b, 1.0);  // the only choice the controller has
  } else {
    const std::string path = o.accuracy.empty() ? accuracy_beside(o.weights) : o.accuracy;
    auto accuracy = device::load_accuracy_table(path);
    if (!accuracy)
      return fail("accuracy table " + path + ": " + accuracy.error().what() +
                  (o.accuracy.empty() ? " (give --accuracy FILE, or --fixed S,B)" : ""));
    device::apply_accuracy_table(*accuracy, table);
  }
  std::unique_ptr<entropy::TableSet> tables;
  if (!o.entropy_tables.empty()) {
    auto file = weights::SafeTensorsFile::open(o.entropy_tables);
    auto loaded = file ? weights::load_entropy_tables(*file, false) : Result<entropy::TableSet>(file.error());
    if (!loaded) return fail("entropy tables " + o.entropy_tables + ": " + loaded.error().what());
    tables = std::make_unique<entropy::TableSet>(std::move(*loaded));
  }

  o.source.out_width = o.source.out_height = o.size;
  o.source.stop = &g_stop;
  o.source.keep_source_rgb = !o.video_out.empty();
  std::string error;
#ifdef SLIMCODEC_DEVICE_HAVE_FFMPEG
  std::unique_ptr<VideoOut> video;
  if (!o.video_out.empty() && !(video = VideoOut::create(o.video_out, error))) return fail(error);
#else
  if (!o.video_out.empty()) return fail("--video-out: this build has no FFmpeg (its libraries at configure time)");
#endif
  std::unique_ptr<Source> source = Source::open(o.source, error);
  if (!source) return fail(error);

  std::unique_ptr<Link> link;
  std::string host;
  uint16_t port = 0;
  if (!o.mqtt.empty()) {
#ifdef SLIMCODEC_HAVE_MQTT
    device::MqttDeviceOptions m;
    parse_host_port(o.mqtt, m.host, m.port);
    m.device_id = o.device_id.empty() ? "device-" + std::to_string(getpid()) : o.device_id;
    m.topic_prefix = o.topic_prefix;
    if (!mqtt::valid_level(m.device_id)) return fail("bad --device-id '" + m.device_id + "' ([A-Za-z0-9._-]{1,64})");
    if (!mqtt::valid_prefix(m.topic_prefix)) return fail("bad --topic-prefix '" + m.topic_prefix + "'");
    m.max_attempts = 2;  // the loop's reply timeout decides misses; the client re-publishes once
    link = std::make_unique<MqttLink>(m);
#else
    return fail("--mqtt: this build has no MQTT support (libmosquitto-dev at configure time)");
#endif
  } else {
    parse_host_port(o.server, host, port);
    link = std::make_unique<TcpLink>(host, port);
  }

  std::FILE* out = stdout;
  if (o.output != "-") {
    out = std::fopen(o.output.c_str(), "w");
    if (out == nullptr) return fail("cannot write " + o.output + ": " + std::strerror(errno));
  }

  device::DeviceLoopOptions lo;
  lo.controller.deadline_ms = o.deadline_ms;
  lo.prior_bytes_per_s = o.prior_rate;
  lo.reply_timeout = std::chrono::milliseconds(
      int64_t(o.reply_timeout_ms > 0 ? o.reply_timeout_ms : std::max(4 * o.deadline_ms, 1000.0)));
  device::DeviceLoop<Encoder> loop(*enc, *link, table, lo);
  if (tables) loop.frame_encoder().set_entropy_tables(tables.get());
  std::vector<float> input(3 * side * side);
  if (o.fixed_s == 0) {  // the controller needs this device's encode times: measured once, then refreshed per frame
    if (auto c = device::calibrate_encoder(loop.frame_encoder(), input.data(), device::kMaxMembers, table); !c)
      return fail(std::string("calibration: ") + c.error().what());
  }
  const bool progress = !o.quiet && isatty(2);
  if (!o.quiet)
    std::fprintf(stderr, "slimcodec-device: %s -> %s, %d x %d input, %s, deadline %g ms\n", source->describe().c_str(),
                 o.mqtt.empty() ? ("decode service " + o.server).c_str() : ("MQTT broker " + o.mqtt).c_str(), o.size,
                 o.size, o.fixed_s ? ("fixed s=" + std::to_string(o.fixed_s) + " b=" + std::to_string(o.fixed_b)).c_str()
                                   : "adaptive (s, b)",
                 o.deadline_ms);

  Summary sum;
  int status = 0;
  SourceFrame frame;
  while (!g_stop.load() && (o.max_frames == 0 || sum.frames < o.max_frames)) {
    const Source::Next next = source->next(frame, error);
    if (next == Source::Next::end) break;
    if (next == Source::Next::error) {
      std::fprintf(stderr, "slimcodec-device: %s\n", error.c_str());
      status = 1;
      break;
    }
    if (!source->live() && frame.index % o.every != 0) continue;
    // A live frame is dropped while the server is away; a file's frame waits for it.
    bool ready = link->ensure();
    while (!ready && !source->live() && !g_stop.load()) {
      sleep_until(link->next_attempt());
      ready = link->ensure();
    }
    if (g_stop.load()) break;
    if (!ready) {
      ++sum.dropped_link;
      continue;
    }
    if (auto p = io::preprocess_rgb_u8(frame.rgb, size_t(frame.rgb_width), size_t(frame.rgb_height),
                                       3 * size_t(frame.rgb_width), input.data(), side, side);
        !p)
      return fail(std::string("preprocess: ") + p.error().what());
    auto r = loop.process(input.data());
    if (!r) {
      if (!link->up()) {  // the link went down with this frame: it is lost, the next one reconnects
        ++sum.dropped_link;
        continue;
      }
      std::fprintf(stderr, "slimcodec-device: frame %zu: %s\n", frame.index, r.error().what());
      status = 1;
      break;
    }
    if (r->plan != device::Plan::split) continue;
    write_line(out, frame, *r, 2.0 * double(side));
    if (std::ferror(out)) {  // a full disk, a closed pipe (SIGPIPE is ignored): stop rather than run on unheard
      std::fprintf(stderr, "slimcodec-device: cannot write %s\n", o.output == "-" ? "stdout" : o.output.c_str());
      status = 1;
      break;
    }
#ifdef SLIMCODEC_DEVICE_HAVE_FFMPEG
    if (video && !annotate(*video, frame, *r, 2.0 * double(side), error)) {
      std::fprintf(stderr, "slimcodec-device: %s\n", error.c_str());
      status = 1;
      break;
    }
#endif
    ++sum.frames;
    sum.bytes_sum += double(r->bytes);
    if (r->status == Errc::ok) {
      ++sum.answered;
      sum.rtt.add(r->rtt_ms);
    } else if (r->status == Errc::timed_out) {
      ++sum.timed_out;
    } else {
      ++sum.failed;
    }
    sum.hits += r->deadline_met;
    if (progress)
      std::fprintf(stderr, "\rframe %zu  s=%u b=%u  %zu B  rtt %.0f ms  %s   ", frame.index, r->s, r->b, r->bytes,
                   r->rtt_ms, r->deadline_met ? "hit " : "MISS");
  }
  if (progress) std::fputc('\n', stderr);
  sum.dropped_source = source->dropped();
  sum.reconnects = link->reconnects();
  sum.print_json(out, o.deadline_ms);
  if (!o.quiet) sum.print_text(stderr, o.deadline_ms);
  link->close();
  source.reset();
#ifdef SLIMCODEC_DEVICE_HAVE_FFMPEG
  if (video && !video->close(error)) status = fail(error);
#endif
  const bool written = std::ferror(out) == 0;
  const bool closed = out != stdout ? std::fclose(out) == 0 : std::fflush(out) == 0;
  if (!(written && closed) && status == 0)  // else the reason was already said
    return fail("cannot finish writing " + (o.output == "-" ? std::string("stdout") : o.output));
  return status;
}
