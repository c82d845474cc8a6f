// The conv kernel configurations the tests sweep and bench/bench_encoder.cpp times: the paper's shapes plus
// odd ones (K = 1, 5, 7; channel counts with no 4/6 divisor) so every blocking and halo path runs.
#pragma once

#include <string>
#include <tuple>

#include <slimcodec/kernels/conv3x3_winograd.hpp>
#include <slimcodec/kernels/conv_1x1.hpp>
#include <slimcodec/kernels/conv_kxk.hpp>
#include <slimcodec/kernels/conv_transpose.hpp>

namespace slimcodec::test {

using ConvKxKList = std::tuple<kernels::conv_kxk_f32<3, 6, 3, 2>,    // paper stem
                               kernels::conv_kxk_f32<4, 24, 3, 2>,   // paper stage 3 expand
                               kernels::conv_kxk_f32<6, 6, 3, 1>,    // stride 1 (layers use Winograd for 3x3)
                               kernels::conv_kxk_f32<5, 7, 5, 1>,    // K = 5, prime channel counts
                               kernels::conv_kxk_f32<2, 3, 5, 2>,    // K = 5, stride 2
                               kernels::conv_kxk_f32<3, 8, 1, 2>,    // K = 1, stride 2
                               kernels::conv_kxk_f32<1, 1, 7, 1>>;   // K = 7, single channel

// Vertical Winograd 3x3 stride 1, F(2,3) and F(4,3): every blocking (Cout % 4, % 3, % 2, odd) and the
// paper's shapes.
using ConvWinoList = std::tuple<kernels::conv3x3_s1_wino2_f32<6, 6>, kernels::conv3x3_s1_wino2_f32<6, 36>,
                                kernels::conv3x3_s1_wino2_f32<5, 10>, kernels::conv3x3_s1_wino2_f32<1, 1>,
                                kernels::conv3x3_s1_wino4_f32<6, 6>, kernels::conv3x3_s1_wino4_f32<4, 4>,
                                kernels::conv3x3_s1_wino4_f32<6, 36>, kernels::conv3x3_s1_wino4_f32<3, 7>,
                                kernels::conv3x3_s1_wino4_f32<1, 1>>;

using Conv1x1List = std::tuple<kernels::conv1x1_f32<6, 4>, kernels::conv1x1_f32<36, 6>, kernels::conv1x1_f32<6, 36>,
                               kernels::conv1x1_f32<5, 7>, kernels::conv1x1_f32<1, 1>>;

using ConvTList = std::tuple<kernels::convt_kxk_s2_f32<4, 24, 3>, kernels::convt_kxk_s2_f32<3, 5, 3>,
                             kernels::convt_kxk_s2_f32<2, 4, 5>, kernels::convt_kxk_s2_f32<1, 3, 7>>;

inline std::string list(int a, int b) { return std::to_string(a) + "," + std::to_string(b); }
inline std::string list(int a, int b, int c) { return list(a, b) + "," + std::to_string(c); }
inline std::string list(int a, int b, int c, int d) { return list(a, b, c) + "," + std::to_string(d); }

// Channel counts, kernel size, stride and printable name of a listed kernel.
template <class T>
struct KernelParams;
template <int Cin, int Cout, int K, int S>
struct KernelParams<kernels::conv_kxk_f32<Cin, Cout, K, S>> {
  static constexpr int cin = Cin, cout = Cout, k = K, s = S;
  static std::string name() { return "conv_kxk_f32<" + list(Cin, Cout, K, S) + ">"; }
};
template <int Cin, int Cout, int M>
struct KernelParams<kernels::conv3x3_s1_winograd_f32<Cin, Cout, M>> {
  static constexpr int cin = Cin, cout = Cout, k = 3, s = 1;
  static std::string name() { return "conv3x3_s1_wino" + std::to_string(M) + "_f32<" + list(Cin, Cout) + ">"; }
};
template <int Cin, int Cout>
struct KernelParams<kernels::conv1x1_f32<Cin, Cout>> {
  static constexpr int cin = Cin, cout = Cout, k = 1, s = 1;
  static std::string name() { return "conv1x1_f32<" + list(Cin, Cout) + ">"; }
};
template <int Cin, int Cout, int K>
struct KernelParams<kernels::convt_kxk_s2_f32<Cin, Cout, K>> {
  static constexpr int cin = Cin, cout = Cout, k = K, s = 2;
  static std::string name() { return "convt_kxk_s2_f32<" + list(Cin, Cout, K) + ">"; }
};

}  // namespace slimcodec::test
