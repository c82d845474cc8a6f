// The server side in one include: frame parsing and dequantization (the wire core), the decoder backends
// (native reconstructor, identity, user callback) and the frame pipeline (admit, budget, decode on the worker pool,
// reply, stats) every service shares.
// Services and optional backends need other libraries and are included on their own: server/tcp_service.hpp
// (Asio), server/mqtt_service.hpp (libmosquitto), server/libtorch.hpp (LibTorch).
#pragma once

#include "slimcodec/slimcodec.hpp"

#include "slimcodec/server/backend.hpp"
#include "slimcodec/server/callback.hpp"
#include "slimcodec/server/native.hpp"
#include "slimcodec/server/registry.hpp"

#include "slimcodec/server/frame_job.hpp"
#include "slimcodec/server/pipeline.hpp"
#include "slimcodec/wire/reply.hpp"
#include "slimcodec/server/worker_pool.hpp"
