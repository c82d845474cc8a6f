// Squeeze-excite without touching the feature map: the gate comes from the pooled means (a few hundred
// flops), and is then folded into the 1x1 projection's input columns, so excitation costs no pass at all.
#pragma once

#include <cstddef>

#include "slimcodec/kernels/activation.hpp"

namespace slimcodec::kernels {

// gate[c] = sigmoid(be[c] + sum_j we[c][j] * silu(br[j] + sum_i wr[j][i] * pool[i])).
// Weights as PyTorch stores them: reduce [Csq][Ce], expand [Ce][Csq].
template <int Ce, int Csq>
inline void se_gate_f32(const float* pool, const float* reduce_w, const float* reduce_b, const float* expand_w,
                        const float* expand_b, float* gate) noexcept {
  float hidden[Csq];
  for (int j = 0; j < Csq; ++j) {
    float s = reduce_b[j];
    for (int i = 0; i < Ce; ++i) s += reduce_w[j * Ce + i] * pool[i];
    hidden[j] = silu(s);
  }
  for (int c = 0; c < Ce; ++c) {
    float s = expand_b[c];
    for (int j = 0; j < Csq; ++j) s += expand_w[c * Csq + j] * hidden[j];
    gate[c] = sigmoid(s);
  }
}

// folded[o][c] = proj[o][c] * gate[c]: scaling the projection's input column c by the gate equals scaling
// input channel c, because the projection is linear.
template <int Cout, int Ce>
inline void fold_gate_f32(const float* proj, const float* gate, float* folded) noexcept {
  for (int o = 0; o < Cout; ++o) {
    for (int c = 0; c < Ce; ++c) folded[o * Ce + c] = proj[o * Ce + c] * gate[c];
  }
}

}  // namespace slimcodec::kernels
