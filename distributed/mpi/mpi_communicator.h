// The MPI world (OpenMPI): the processes mpirun started, CPU tensors.
//
// Reductions are not MPI_Allreduce, whose summation order depends on the
// algorithm the library picks (message size, process count, tuning files):
// the sum is a reduce-scatter by MPI_Ialltoallv (rank r receives segment r of
// every rank's buffer and adds them in rank order 0..N-1) followed, for an
// all-reduce, by an MPI_Iallgatherv of the summed segments. That moves the
// same bytes as a ring all-reduce, and every rank gets the same bits on every
// run for a given N. MPI needs every rank to issue its collectives on a
// communicator in one order: the all-gathers run on a communicator of their
// own and are started strictly in the order the sums were (a FIFO), whatever
// order their first halves finish in.
//
// Errors come back as codes (MPI_ERRORS_RETURN) and are thrown with MPI's
// message; every collective is nonblocking and polled with MPI_Test against a
// deadline, so a dead or diverged rank is reported by name, not waited for.
#pragma once

#include <mpi.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "distributed/communicator.h"

namespace clipgrad::distributed {

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI (once per process); timeout bounds each collective.
  explicit MpiCommunicator(std::chrono::milliseconds timeout);
  ~MpiCommunicator() override;  // finalises MPI
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "MPI"; }
  std::unique_ptr<PendingCollective> start_all_reduce_sum(Tensor buffer, const std::string& what) override;
  std::unique_ptr<PendingCollective> start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                              const std::string& what) override;
  Tensor all_gather_rows(const Tensor& local, const std::string& what) override;
  void broadcast(Tensor buffer, int root, const std::string& what) override;
  void barrier(const std::string& what) override { slow_barrier(what, timeout_); }
  void slow_barrier(const std::string& what, std::chrono::milliseconds timeout) override;
  [[noreturn]] void abort_job(int exit_code) override;

  // Byte-level broadcast, for bootstrapping other libraries (NCCL's unique id).
  void broadcast_bytes(void* data, size_t bytes, int root, const std::string& what);

  struct SegmentedSum;

 private:
  friend class MpiPendingSum;
  // Starts exchanging the segments of `sent` (rank r's: counts[r] elements
  // at offsets[r]); this rank's sum goes to `summed`, and with `gather` every
  // rank's summed segment is then gathered into `sent` in place.
  std::unique_ptr<PendingCollective> start_segmented_sum(Tensor sent, Tensor summed, std::vector<int> counts,
                                                         std::vector<int> offsets, bool gather,
                                                         const std::string& what);
  // A scratch buffer [numel] of a finished sum, or a new one.
  Tensor take_scratch(int64_t numel, DType dtype);
  // Moves every sum in flight as far as it can without blocking.
  void advance_sums();
  // Polls until done() or the timeout, which throws naming `what`.
  void poll_until(const std::function<bool()>& done, const std::string& what, std::chrono::milliseconds timeout);
  // Polls `request` (advancing the sums meanwhile) until it completes.
  void wait_request(MPI_Request& request, const std::string& what, std::chrono::milliseconds timeout);
  void wait_request(MPI_Request& request, const std::string& what) { wait_request(request, what, timeout_); }

  MPI_Comm comm_ = MPI_COMM_NULL;                    // every collective but the all-reduces' second halves
  MPI_Comm gather_comm_ = MPI_COMM_NULL;             // the all-reduces' all-gathers, in FIFO order
  std::vector<std::shared_ptr<SegmentedSum>> sums_;  // in flight, in start order
  // The receive buffers of finished sums, for the next ones of their size:
  // the buckets repeat every step, and fresh pages cost more than the copy.
  std::multimap<std::pair<int64_t, DType>, Tensor> scratch_;
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  std::chrono::milliseconds timeout_;
};

}  // namespace clipgrad::distributed
