// The data-parallel world: the processes of one training job and the
// collectives the trainer needs between them. One interface, three worlds:
// a single process (no communication, the default), MPI (CPU tensors; the
// launcher, mpirun, starts the processes) and NCCL (CUDA tensors, bootstrapped
// over MPI). Every reduction has a fixed order (see each implementation), so a
// run repeats bit for bit for a given number of processes.
//
// Every collective must be called by every rank in the same order. A
// collective that does not complete within the communicator's timeout throws,
// naming the operation (a rank died or diverged); the caller then aborts the
// whole job (abort_job), never hangs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace clipgrad::distributed {

// A collective started and not yet complete.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Advances the operation without blocking; true once it is complete.
  virtual bool test() = 0;
  // Blocks until complete; throws on error or timeout (naming the operation).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  // 0 .. world_size() - 1
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;    // rank among the processes of this machine (its GPU)
  virtual std::string name() const = 0;  // "single process", "MPI", "NCCL"

  // Starts summing `buffer` (f32 or f64, contiguous, the same shape on every
  // rank) over the ranks, in place; the sum is done in rank order 0, 1, ...,
  // N-1 and gives the same bits on every rank. `buffer` must stay alive and
  // untouched until the returned operation completes.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor buffer, const std::string& what) = 0;
  void all_reduce_sum(Tensor buffer, const std::string& what) { start_all_reduce_sum(std::move(buffer), what)->wait(); }

  // local [B, ...] (the same shape on every rank) -> [N*B, ...]: every rank's
  // rows, in rank order.
  virtual Tensor all_gather_rows(const Tensor& local, const std::string& what) = 0;
  // Starts the reduce-scatter half of that sum: `full` is [N*S] (f32 or
  // f64, contiguous, the same size on every rank) and `shard` [S] of its
  // dtype and device receives segment `rank` of the sum over the ranks,
  // elements [rank*S, (rank+1)*S), added in rank order (the same bits as
  // start_all_reduce_sum gives there). Both must stay alive, and `full`
  // untouched, until the returned operation completes.
  virtual std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                      const std::string& what) = 0;
  // full [N*B, ...] -> [B, ...]: rows [rank*B, (rank+1)*B) of the sum over
  // ranks of `full`, summed in rank order (a blocking reduce-scatter).
  Tensor reduce_scatter_rows(const Tensor& full, const std::string& what);
  // Rank `root`'s `buffer` into every rank's `buffer` (same shape and dtype).
  virtual void broadcast(Tensor buffer, int root, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;
  // A barrier at which ranks wait while one does work of its own (rank 0
  // evaluating a model), which may outlast the collective timeout: `timeout`.
  virtual void slow_barrier(const std::string& what, std::chrono::milliseconds timeout) = 0;

  // Ends every process of the job with `exit_code` (after the caller printed
  // its error); for a single process, exits.
  [[noreturn]] virtual void abort_job(int exit_code) = 0;

 protected:
  // start_reduce_scatter_sum's operands: `shard` of full's dtype, 1/N of its elements.
  void check_shard(const Tensor& full, const Tensor& shard, const std::string& what) const;
};

// The world of one process: every collective is the identity.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single process"; }
  std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor buffer, const std::string& what) override;
  std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                              const std::string& what) override;
  Tensor all_gather_rows(const Tensor& local, const std::string&) override { return local; }
  void broadcast(Tensor, int, const std::string&) override {}
  void barrier(const std::string&) override {}
  void slow_barrier(const std::string&, std::chrono::milliseconds) override {}
  [[noreturn]] void abort_job(int exit_code) override;
};

// How long a collective may take before it is declared hung: the
// environment variable CLIPGRAD_COLLECTIVE_TIMEOUT (seconds), else 300 s.
std::chrono::milliseconds collective_timeout_from_env();

// The ranks of a job whose `rows` rows are cut into world_size contiguous
// slices: throws unless rows divides evenly (every rank must hold as many).
int64_t rows_per_rank(int64_t rows, int world_size, const std::string& what);

}  // namespace clipgrad::distributed
