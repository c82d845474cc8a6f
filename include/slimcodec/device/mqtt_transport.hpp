// FrameTransport over MQTT: the DeviceLoop's link through a MqttDeviceClient (docs/mqtt.md), so the loop
// runs unchanged over TCP or MQTT. The client re-publishes unanswered frames and deduplicates replies; a frame
// it gave up on comes back as a reply with status io_error (a miss for that frame, not the end of the stream).
// Needs libmosquitto, like serve/mqtt_device_client.hpp.
#pragma once

#include "slimcodec/device/frame_transport.hpp"
#include "slimcodec/device/mqtt_device_client.hpp"

namespace slimcodec::device {

class MqttTransport final : public FrameTransport {
 public:
  explicit MqttTransport(MqttDeviceClient& client) : client_(client) {}

  // One publish per frame. Errors: the client's (io_error when closed, buffer_too_small when max_pending frames
  // are unanswered).
  Result<void> send_frame(const uint8_t* bytes, size_t n) override { return client_.publish(bytes, n); }

  Result<wire::Reply> receive_reply(std::chrono::milliseconds timeout) override {
    auto got = client_.receive(timeout);
    if (!got) return got.error();
    if (!*got) return Error{Errc::timed_out, "no reply within the time limit"};
    wire::Reply reply = (*got)->reply;
    if ((*got)->gave_up) reply.status = Errc::io_error;  // never a stream error: the frame id is kept
    return reply;
  }

 private:
  MqttDeviceClient& client_;
};

}  // namespace slimcodec::device
