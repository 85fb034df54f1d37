// The gradient all-reduce of data-parallel training, in size-bounded buckets
// that start during backward.
//
// Parameters are cut into buckets from the last to the first (backward
// produces the gradients of the last layers first), each holding at most
// bucket_bytes of gradient (a larger parameter gets a bucket of its own).
// A hook on every parameter (Variable::set_grad_final_hook) counts the
// bucket's gradients as they become final; the last one copies them into the
// bucket's flat buffer and starts its all-reduce, so communication overlaps
// the rest of backward. finish_step() waits for every bucket and leaves each
// parameter's gradient as the average over the ranks. The sums run in a fixed
// order (Communicator::start_all_reduce_sum), so a run repeats bit for bit.
//
// For a sharded optimizer (ZeRO-1) the buckets reduce-scatter instead: each
// bucket's flat buffer is zero-padded to N equal segments and rank r keeps
// only segment r of the average (shard(b)): half an all-reduce's traffic
// (the optimizer's all-gather of the updated parameters is the other half);
// the parameters' own gradients are then cleared.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "autograd/variable.h"
#include "distributed/communicator.h"

namespace clipgrad::distributed {

inline constexpr size_t kDefaultBucketBytes = size_t(25) << 20;  // DDP's default

enum class GradientReduction {
  all_reduce,      // every rank gets every parameter's averaged gradient
  reduce_scatter,  // rank r gets segment r of each bucket's averaged gradient
};

class GradientBuckets {
 public:
  GradientBuckets(std::vector<Variable> params, Communicator& communicator, size_t bucket_bytes = kDefaultBucketBytes,
                  GradientReduction reduction = GradientReduction::all_reduce);
  ~GradientBuckets();  // removes the hooks
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Before each backward: no bucket has started.
  void start_step();
  // After backward: starts the buckets backward did not complete (a parameter
  // backward did not reach counts as a zero gradient on this rank), waits for
  // all, and sets every gradient to the average over the ranks (all_reduce),
  // or each shard(b) to its segment of the average (reduce_scatter).
  void finish_step();

  // Parameter indices (into the constructor's list) of each bucket, in the
  // order the buckets are numbered; within a bucket, parameter k's gradient
  // starts where parameter k-1's ends (offset 0 for the first).
  const std::vector<std::vector<size_t>>& buckets() const { return bucket_params_; }
  const std::vector<Variable>& params() const { return params_; }
  GradientReduction reduction() const { return reduction_; }
  // Elements of bucket b per rank (reduce_scatter: its buffer is N of them).
  int64_t segment(size_t bucket) const;
  // reduce_scatter, after finish_step: [segment(b)], elements
  // [rank * segment, (rank + 1) * segment) of bucket b's averaged gradient
  // (zeros past the bucket's end).
  const Tensor& shard(size_t bucket) const { return shards_.at(bucket); }
  Tensor& shard(size_t bucket) { return shards_.at(bucket); }
  // Buckets whose all-reduce started inside backward in the last step.
  int64_t started_during_backward() const { return started_during_backward_; }

 private:
  void on_grad_final(size_t param);
  void start_bucket(size_t bucket);

  std::vector<Variable> params_;
  Communicator& communicator_;
  GradientReduction reduction_;
  std::vector<std::vector<size_t>> bucket_params_;
  std::vector<size_t> bucket_of_param_;
  std::vector<size_t> remaining_;                            // per bucket: gradients not yet final this step
  std::vector<Tensor> buffers_;                              // per bucket: 1-D, the gradients back to back (then zeros)
  std::vector<Tensor> shards_;                               // per bucket, reduce_scatter: this rank's segment
  std::vector<std::unique_ptr<PendingCollective>> pending_;  // per bucket; null until started
  int64_t started_during_backward_ = 0;
  bool in_backward_ = false;
};

}  // namespace clipgrad::distributed
