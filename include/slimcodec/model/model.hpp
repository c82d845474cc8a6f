// Everything in model/: runnable networks built from layer specs (Network, Encoder, Reconstructor) and their
// xtensor front door.
#pragma once

#include "slimcodec/model/encoder.hpp"
#include "slimcodec/model/network.hpp"
#include "slimcodec/model/xtensor_api.hpp"
