// The server side in one include: frame parsing and dequantization (the wire core), the decoder backends
// (native reconstructor, identity, user callback) and the per-frame job and worker pool every service shares.
// Services and optional backends need other libraries and are included on their own: serve/tcp_service.hpp
// (Asio), serve/mqtt_service.hpp (libmosquitto), decode/libtorch.hpp (LibTorch).
#pragma once

#include <slimcodec/slimcodec.hpp>

#include <slimcodec/decode/backend.hpp>
#include <slimcodec/decode/callback.hpp>
#include <slimcodec/decode/native.hpp>
#include <slimcodec/decode/registry.hpp>

#include <slimcodec/serve/frame_job.hpp>
#include <slimcodec/wire/reply.hpp>
#include <slimcodec/serve/worker_pool.hpp>
