// Everything in kernels/: the SIMD kernels of the network (xsimd, written once for every arch and for float).
// kernels/ref/ holds the plain-loop references they are tested against.
#pragma once

#include "slimcodec/kernels/activation.hpp"
#include "slimcodec/kernels/conv3x3_winograd.hpp"
#include "slimcodec/kernels/conv_1x1.hpp"
#include "slimcodec/kernels/conv_kxk.hpp"
#include "slimcodec/kernels/conv_transpose.hpp"
#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/kernels/squeeze_excite.hpp"
