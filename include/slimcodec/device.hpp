// The device side in one include: the paper's layer specs and the encoder runtime, safetensors weights, image
// preprocessing, and the runtime that picks (s, b) per frame and writes frames, over the wire core.
// Transports and image files need other libraries and are included on their own: adapt/tcp_transport.hpp
// (Asio), serve/mqtt_device_client.hpp (libmosquitto), io/image.hpp (stb).
#pragma once

#include <slimcodec/slimcodec.hpp>

#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/layers.hpp>
#include <slimcodec/model/model.hpp>
#include <slimcodec/quant/bound_rules.hpp>
#include <slimcodec/weights/safetensors.hpp>

#include <slimcodec/adapt/accuracy_table.hpp>
#include <slimcodec/adapt/bandwidth.hpp>
#include <slimcodec/adapt/calibration.hpp>
#include <slimcodec/adapt/controller.hpp>
#include <slimcodec/adapt/device_loop.hpp>
#include <slimcodec/adapt/frame_encoder.hpp>
#include <slimcodec/adapt/frame_transport.hpp>
#include <slimcodec/adapt/operating_points.hpp>
