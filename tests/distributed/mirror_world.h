// A fake data-parallel world for unit tests: `ranks` ranks that all hold this
// process's tensors (so a gather repeats the local rows and a sum over ranks
// multiplies by the rank count). It logs every collective it is asked for.
#pragma once

#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/shape.h"

namespace clipgrad::testing {

class MirrorWorld final : public distributed::Communicator {
 public:
  explicit MirrorWorld(int ranks) : ranks_(ranks) {}
  int rank() const override { return 0; }
  int world_size() const override { return ranks_; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "mirror"; }

  std::unique_ptr<distributed::PendingCollective> start_all_reduce_sum(Tensor buffer,
                                                                       const std::string& what) override {
    log.push_back(what);
    buffer.copy_from(ops::scale(buffer, ranks_));
    return distributed::SingleProcess().start_all_reduce_sum(buffer, what);
  }
  Tensor all_gather_rows(const Tensor& local, const std::string& what) override {
    log.push_back(what);
    return ops::concat(std::vector<Tensor>(ranks_, local), 0);
  }
  std::unique_ptr<distributed::PendingCollective> start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                           const std::string& what) override {
    log.push_back(what);
    // Every rank holds this `full`: the sum of their rank-0 segments.
    shard.copy_from(ops::scale(full.reshape({full.numel()}).rows(0, shard.numel()), ranks_).reshape(shard.shape()));
    return distributed::SingleProcess().start_all_reduce_sum(shard, what);
  }
  void broadcast(Tensor, int, const std::string& what) override { log.push_back(what); }
  void barrier(const std::string& what) override { log.push_back(what); }
  void slow_barrier(const std::string& what, std::chrono::milliseconds) override { log.push_back(what); }
  [[noreturn]] void abort_job(int) override { throw std::logic_error("MirrorWorld::abort_job"); }

  std::vector<std::string> log;

 private:
  int ranks_;
};

}  // namespace clipgrad::testing
