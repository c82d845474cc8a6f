// Everything in layers/: the compile-time layer specs and the paper's models.
#pragma once

#include "slimcodec/layers/conv2d.hpp"
#include "slimcodec/layers/ensemble.hpp"
#include "slimcodec/layers/fused_mbconv.hpp"
#include "slimcodec/layers/paper.hpp"
#include "slimcodec/layers/sequential.hpp"
#include "slimcodec/layers/shape.hpp"
#include "slimcodec/layers/tensor_io.hpp"
