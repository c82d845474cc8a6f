// Encoder<EnsembleSpec>: the on-device slimmable encoder. set_active(s) picks how many members run (a field
// write); encode() runs them with no heap allocation, optionally on several threads (off by default).
#pragma once

#include <memory>
#include <new>
#include <utility>

#include "slimcodec/common/result.hpp"
#include "slimcodec/kernels/norm_act.hpp"
#include "slimcodec/kernels/simd.hpp"
#include "slimcodec/layers/ensemble.hpp"
#include "slimcodec/model/aligned_buffer.hpp"
#include "slimcodec/model/member_pool.hpp"
#include "slimcodec/model/network.hpp"

namespace slimcodec::model {

template <class Spec>
class Encoder : public Network<Spec> {
  static_assert(layers::IsEnsemble<Spec>::value, "Encoder: Spec must be a layers::Ensemble<Member, N>");
  using Base = Network<Spec>;

 public:
  static constexpr int kMembers = Spec::kMembers;

  static Result<Encoder> create(int h, int w) noexcept {
    Result<Base> base = Base::create(h, w);
    if (!base) return base.error();
    return Encoder(std::move(base.value()));
  }

  Encoder(Encoder&&) noexcept = default;
  Encoder& operator=(Encoder&&) noexcept = default;

  // Active ensemble size s in 1..kMembers; takes effect at the next encode().
  Result<void> set_active(int s) noexcept {
    if (s < 1 || s > kMembers) return Error{Errc::ensemble_out_of_range, "active size outside 1..members"};
    this->active_ = s;
    return {};
  }
  int active() const noexcept { return this->active_; }

  // Runs members on `threads` threads (the caller's plus threads - 1 workers); 1 turns it off. Allocates
  // per-thread scratch and starts the workers here, never in encode().
  Result<void> set_threads(int threads) {
    if (threads < 1 || threads > kMembers) return Error{Errc::invalid_argument, "threads outside 1..members"};
    pool_.reset();
    extra_ = AlignedBuffer();
    if (threads == 1) return {};
    const size_t per = per_thread_floats();
    AlignedBuffer extra(size_t(threads - 1) * per * sizeof(float));
    if (!extra) return Error{Errc::out_of_memory, "cannot allocate thread scratch"};
    extra_ = std::move(extra);
    pool_ = MemberPool::create(threads - 1);
    if (!pool_) {
      extra_ = AlignedBuffer();
      return Error{Errc::out_of_memory, "cannot start worker threads"};
    }
    return {};
  }
  int threads() const noexcept { return pool_ ? pool_->workers() + 1 : 1; }

  // out = sum over m < active() of 2^-m member_m(in). in: kIn x H x W, out: out_shape(), CHW float.
  void encode(const float* in, float* out) noexcept {
    if (!pool_ || this->active_ == 1) {
      this->run(in, out);
      return;
    }
    job_ = Job{in, out};
    pool_->run(&Encoder::run_share, this);
    // Thread t summed members t, t + T, ...; the caller's share is already in out.
    const int used = std::min(threads(), this->active_);
    const size_t n = size_t(this->out_shape().size());
    for (int t = 1; t < used; ++t) kernels::axpy_f32{}(partial(t), 1.f, out, n);
  }

 private:
  explicit Encoder(Base&& base) noexcept : Base(std::move(base)) {}

  struct Job {
    const float* in = nullptr;
    float* out = nullptr;
  };

  size_t per_thread_floats() const noexcept {
    return layers::align_floats(size_t(this->out_shape().size())) + Spec::scratch_floats(this->in_);
  }
  float* partial(int t) const noexcept {
    return reinterpret_cast<float*>(extra_.data()) + size_t(t - 1) * per_thread_floats();
  }

  static void run_share(void* ctx, int t) {
    auto* self = static_cast<Encoder*>(ctx);
    const int step = self->threads();
    if (t >= self->active_) return;
    float* y = t == 0 ? self->job_.out : self->partial(t);
    float* scratch = t == 0 ? self->scratch() : self->partial(t) + layers::align_floats(size_t(self->out_shape().size()));
    Spec::forward_members(kernels::default_arch{}, self->weights(), self->in_, self->job_.in, y, scratch,
                          self->active_, t, step);
  }

  std::unique_ptr<MemberPool> pool_;
  AlignedBuffer extra_;
  Job job_;
};

}  // namespace slimcodec::model
