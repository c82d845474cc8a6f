// slimcodec-py-device-client: the device's own TCP transport (device/tcp_transport.hpp) against a decode server, for
// tests/python/test_example_server.py: sends each frame read from stdin, waits for its reply, prints one JSON line
// per reply (what the device loop would see). Exit 1 when the transport or a reply is refused.
//   slimcodec-py-device-client PORT < frames
#include <slimcodec/device/tcp_transport.hpp>
#include <slimcodec/wire/parser.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace slimcodec;

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: slimcodec-py-device-client PORT < frames\n"), 2;
  std::vector<uint8_t> data;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.insert(data.end(), buf, buf + n);
  device::TcpTransport link;
  if (auto ok = link.connect("127.0.0.1", uint16_t(std::atoi(argv[1]))); !ok)
    return std::fprintf(stderr, "connect: %s\n", ok.error().what()), 1;
  size_t at = 0;
  while (at < data.size()) {
    // Frames are sent as they are, valid or not: the server's answer is what is checked.
    auto v = wire::parse_frame(data.data() + at, data.size() - at);
    const size_t size = v ? v->frame_size : data.size() - at;
    if (auto ok = link.send_frame(data.data() + at, size); !ok)
      return std::fprintf(stderr, "send: %s\n", ok.error().what()), 1;
    at += size;
    auto r = link.receive_reply(std::chrono::seconds(30));
    if (!r) return std::fprintf(stderr, "reply: %s\n", r.error().what()), 1;
    std::printf("{\"status\": %u, \"frame_id\": %" PRIu32 ", \"decode_us\": %" PRIu32 ", \"timestamp_us\": %" PRIu64
                ", \"digest\": %" PRIu64 ", \"out_shape\": [%u, %u, %u], \"detections\": %u}\n",
                unsigned(r->status), r->frame_id, r->decode_us, r->timestamp_us, r->digest, r->out_channels,
                r->out_height, r->out_width, unsigned(r->detection_count));
    std::fflush(stdout);
  }
  return 0;
}
