// xtensor front door for networks: shape-checked run()/encode() on xt::xtensor<float, 3> CHW tensors. An
// output of the right shape is written in place (no allocation); any other output is resized first.
#pragma once

#include <xtensor/xtensor.hpp>

#include "slimcodec/common/result.hpp"
#include "slimcodec/model/encoder.hpp"
#include "slimcodec/model/network.hpp"

namespace slimcodec::model {
namespace detail {

inline bool same_shape(const xt::xtensor<float, 3>& t, Shape s) {
  return int64_t(t.shape()[0]) == s.c && int64_t(t.shape()[1]) == s.h && int64_t(t.shape()[2]) == s.w;
}

template <class Net>
Result<void> prepare(const Net& net, const xt::xtensor<float, 3>& in, xt::xtensor<float, 3>& out) {
  if (!same_shape(in, net.in_shape())) {
    return Error{Errc::shape_out_of_range, "input shape differs from the shape the network was built for"};
  }
  const Shape os = net.out_shape();
  if (!same_shape(out, os)) out.resize({size_t(os.c), size_t(os.h), size_t(os.w)});
  return {};
}

}  // namespace detail

// out = net(in).
template <class Spec>
Result<void> run(Network<Spec>& net, const xt::xtensor<float, 3>& in, xt::xtensor<float, 3>& out) {
  Result<void> r = detail::prepare(net, in, out);
  if (r) net.run(in.data(), out.data());
  return r;
}

// out = enc.encode(in), with the encoder's active size and threads.
template <class Spec>
Result<void> encode(Encoder<Spec>& enc, const xt::xtensor<float, 3>& in, xt::xtensor<float, 3>& out) {
  Result<void> r = detail::prepare(enc, in, out);
  if (r) enc.encode(in.data(), out.data());
  return r;
}

}  // namespace slimcodec::model
