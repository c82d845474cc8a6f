// What the device loop needs from a link: send one whole frame, wait (bounded) for the next reply. The one device
// transport interface: device/tcp_transport.hpp and device/mqtt_transport.hpp implement it; so can BLE, UART, QUIC.
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/wire/reply.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace slimcodec::device {

class FrameTransport {
 public:
  virtual ~FrameTransport() = default;

  // Hands one whole frame to the link; returns once the transport has taken all the bytes (it may block on
  // back-pressure). Errors: io_error (link gone), timed_out (the transport could not take them in time).
  virtual Result<void> send_frame(const uint8_t* bytes, size_t n) = 0;

  // The next reply from the server, waiting at most `timeout`. Errors: timed_out (nothing complete yet; a later
  // call may still return it), io_error (link gone), or a reply parse error (the stream is no longer usable).
  virtual Result<wire::Reply> receive_reply(std::chrono::milliseconds timeout) = 0;
};

}  // namespace slimcodec::device
