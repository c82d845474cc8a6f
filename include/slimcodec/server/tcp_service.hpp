// The TCP decode service (standalone Asio): accepts many device connections (tcp_acceptor.hpp), each of which moves
// bytes between its socket and the frame pipeline (tcp_connection.hpp, pipeline.hpp: admit, charge the memory
// budget, decode on the worker pool, reply, count). A connection that sends bad bytes is answered with one error
// reply and dropped alone; the others carry on. shutdown() stops accepting, answers every frame already received,
// then closes.
//
// Hostile clients (docs/service.md): memory is bounded by a service-wide budget (read buffers, parser buffers as
// they grow, plus payload and dequantized floats of every frame being decoded); a frame that does not fit is
// answered `overloaded`; a frame is admitted (frame_job.hpp: admit_frame, the checks that need no decoding) before
// anything is charged or allocated for its values. Limits per connection and the acceptor's choices are described
// in tcp_options.hpp, tcp_connection.hpp and tcp_acceptor.hpp. Fairness: reads are short slices
// (kReadBufferBytes), a connection's frames queue for the decode threads behind its own earlier frames rather than
// others' (TaskOrder), and large frames never take every decode thread.
#pragma once

#include "slimcodec/server/pipeline.hpp"
#include "slimcodec/server/tcp_acceptor.hpp"
#include "slimcodec/server/tcp_connection.hpp"
#include "slimcodec/server/tcp_options.hpp"

#include <asio.hpp>

#include <memory>
#include <optional>

namespace slimcodec::server {

class TcpService {
 public:
  static Result<std::unique_ptr<TcpService>> create(asio::io_context& io, ServiceOptions options) {
    std::unique_ptr<TcpService> svc;
    if (!try_allocate([&] { svc.reset(new TcpService(std::move(options))); }))
      return Error{Errc::out_of_memory, "TCP service"};
    auto pipeline = FramePipeline::create(svc->options_.pipeline_options(), svc->stats_);
    if (!pipeline) return pipeline.error();
    svc->pipeline_ = std::move(*pipeline);
    svc->context_.emplace(detail::TcpContext{io, svc->options_, svc->stats_, *svc->pipeline_, nullptr});
    if (!try_allocate([&] { svc->acceptor_ = std::make_unique<detail::TcpAcceptor>(*svc->context_); }))
      return Error{Errc::out_of_memory, "TCP acceptor"};
    detail::TcpAcceptor* acceptor = svc->acceptor_.get();
    svc->context_->closed = [acceptor](const detail::Connection* c) { acceptor->on_connection_closed(c); };
    if (auto listening = svc->acceptor_->listen(svc->options_.bind_address, svc->options_.port); !listening)
      return listening.error();
    return svc;
  }

  ~TcpService() {
    if (pipeline_) stop_workers();
  }

  // Stops the decode threads: running frames finish, queued ones are dropped (counted as unanswered).
  void stop_workers() { pipeline_->stop(); }

  void start() { acceptor_->start(); }
  // Stops accepting; every connection stops reading and closes once its received frames are answered.
  // Connections still open after shutdown_grace are cut (their unanswered frames counted in the stats).
  void shutdown() { acceptor_->shutdown(); }

  uint16_t port() const { return acceptor_->port(); }
  size_t connection_count() { return acceptor_->connection_count(); }
  size_t memory_used() const { return pipeline_->budget().used(); }
  MemoryBudget& budget() { return pipeline_->budget(); }
  const ServiceOptions& options() const { return options_; }
  ServiceStats& stats() { return stats_; }
  FramePipeline& pipeline() { return *pipeline_; }

 private:
  explicit TcpService(ServiceOptions options) : options_(std::move(options)) {}

  ServiceOptions options_;
  ServiceStats stats_;
  std::unique_ptr<FramePipeline> pipeline_;
  std::optional<detail::TcpContext> context_;
  std::unique_ptr<detail::TcpAcceptor> acceptor_;  // destroyed first: its handlers refer to the members above
};

}  // namespace slimcodec::server
