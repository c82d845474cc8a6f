// The device side in one include: the paper's layer specs and the encoder runtime, safetensors weights, image
// preprocessing, and the runtime that picks (s, b) per frame and writes frames, over the wire core.
// Transports and image files need other libraries and are included on their own: device/tcp_transport.hpp
// (Asio), device/mqtt_transport.hpp (libmosquitto), io/image.hpp (stb).
#pragma once

#include "slimcodec/slimcodec.hpp"

#include "slimcodec/io/preprocess.hpp"
#include "slimcodec/layers/layers.hpp"
#include "slimcodec/model/model.hpp"
#include "slimcodec/quant/bound_rules.hpp"
#include "slimcodec/weights/safetensors.hpp"

#include "slimcodec/device/accuracy_table.hpp"
#include "slimcodec/device/bandwidth.hpp"
#include "slimcodec/device/calibration.hpp"
#include "slimcodec/device/controller.hpp"
#include "slimcodec/device/device_loop.hpp"
#include "slimcodec/device/frame_encoder.hpp"
#include "slimcodec/device/frame_transport.hpp"
#include "slimcodec/device/operating_points.hpp"
