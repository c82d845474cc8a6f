// FFmpeg's error codes as text, for slimcodec-device's one-line errors (source.cpp, video_out.cpp).
#pragma once

extern "C" {
#include <libavutil/error.h>
}

#include <string>

namespace slimcodec_device {

inline std::string av_error(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

}  // namespace slimcodec_device
