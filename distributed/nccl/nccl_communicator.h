// The NCCL world: CUDA tensors, one GPU per local rank, bootstrapped over MPI
// as llm.c does (rank 0 makes the unique id, MPI broadcasts it, every rank
// joins with ncclCommInitRankConfig). Compiled only when CUDA and NCCL are
// found. The communicator is non-blocking, so that no NCCL call can hang a
// rank: joining, every collective and the final flush run against the
// collective timeout, NCCL's asynchronous error is polled while a collective
// waits, and after a failure the communicator is aborted, not destroyed.
//
// CUDA tensors go through NCCL; CPU tensors (a step's losses, optimizer step
// counts) through the MPI world it was bootstrapped from, in the same
// program order on every rank.
//
// Collectives run on a stream of their own, after everything queued on the
// compute stream before them (an event: the kernels that wrote their inputs,
// and the last users of memory the caching allocator hands them), so a
// gradient bucket's all-reduce runs while backward's kernels go on. Their
// completion is polled from the host with a CUDA event against the timeout,
// and only then are their buffers read or released. NCCL's sums follow its ring or tree
// schedule, fixed for a given topology, process count and NCCL version: set
// NCCL_ALGO=Ring (and NCCL_PROTO=Simple) to pin it for repeatable runs.
// Sizes are elements of f32/f64; bf16 gradients are reduced as bf16.
#pragma once

#include <nccl.h>

#include <chrono>
#include <memory>

#include "distributed/communicator.h"
#include "distributed/mpi/mpi_communicator.h"

namespace clipgrad::distributed {

class NcclCommunicator final : public Communicator {
 public:
  // Takes the MPI world for its ranks, the id broadcast and barriers; selects
  // GPU local_rank() (before any other CUDA work of the process).
  NcclCommunicator(std::unique_ptr<MpiCommunicator> bootstrap, std::chrono::milliseconds timeout);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return bootstrap_->rank(); }
  int world_size() const override { return bootstrap_->world_size(); }
  int local_rank() const override { return bootstrap_->local_rank(); }
  std::string name() const override { return "NCCL"; }
  std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor buffer, const std::string& what) override;
  std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                              const std::string& what) override;
  Tensor all_gather_rows(const Tensor& local, const std::string& what) override;
  void broadcast(Tensor buffer, int root, const std::string& what) override;
  void barrier(const std::string& what) override { bootstrap_->barrier(what); }
  void slow_barrier(const std::string& what, std::chrono::milliseconds timeout) override {
    bootstrap_->slow_barrier(what, timeout);
  }
  [[noreturn]] void abort_job(int exit_code) override;

 private:
  // Makes the collective stream wait for the work queued on the compute stream.
  void after_compute();
  // Waits (against the timeout) until the enqueue call has finished, then
  // records an event on the collective stream after the enqueued collective.
  std::unique_ptr<PendingCollective> pending_after_enqueue(ncclResult_t enqueued, const std::string& what);

  std::unique_ptr<MpiCommunicator> bootstrap_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;  // every collective, in issue order
  cudaEvent_t compute_done_ = nullptr;
  std::chrono::milliseconds timeout_;
  bool failed_ = false;  // a call failed or timed out: the destructor aborts instead of destroying
};

}  // namespace clipgrad::distributed
