// ZeRO stage 1: AdamW with its state sharded over the data-parallel ranks.
//
// The shards are the gradient buckets' segments (distributed::GradientBuckets with
// GradientReduction::reduce_scatter): each bucket's parameters, laid back to
// back, are cut into N equal segments and rank r owns segment r of every
// bucket. A step is then
//   1. reduce-scatter (during backward): rank r receives the averaged
//      gradient of its segments only;
//   2. update: AdamW on the owned segments, with the moments of those
//      elements alone (about 1/N of AdamW's state per rank);
//   3. all-gather: every rank receives every segment's new values.
// Steps 1 and 3 move the bytes of the one all-reduce of unsharded training.
// The update is nn::AdamW's elementwise arithmetic with its per-parameter
// step counts and weight decay, so the weights are the same bits as without
// sharding; only gradient clipping's norm, summed over the shards, can differ
// in the last bit.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "distributed/communicator.h"
#include "distributed/grad_buckets.h"
#include "nn/optim.h"

namespace clipgrad::clip {

class ZeroOptimizer {
 public:
  // groups: nn::AdamW's parameter groups, over parameters of `buckets`
  // (which must reduce-scatter, in `world`). Parameters of no group are
  // frozen: their values pass through unchanged.
  ZeroOptimizer(const std::vector<nn::ParamGroup>& groups, distributed::GradientBuckets& buckets,
                distributed::Communicator& world, double lr, double beta1, double beta2, double eps);

  void set_lr(double lr) { lr_ = lr; }
  // nn::clip_grad_norm over the averaged gradient's shards: the global 2-norm
  // (one scalar all-reduce), returned; the shards are scaled when above max_norm.
  double clip_grad_norm(double max_norm);
  // One update of the owned segments, then the all-gather of the parameters.
  void step();

  // nn::AdamW::state() of the unsharded optimizer over all the parameters,
  // gathered from the shards: a collective, every rank must call it.
  std::vector<std::pair<std::string, Tensor>> gather_state() const;
  // Takes this rank's segments of an unsharded state (nn::AdamW's layout),
  // so a run resumes on any number of ranks.
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  struct Param {
    Variable variable;
    double weight_decay = 0;
    int64_t steps = 0;  // updates taken (nn::AdamW's "step.i")
    size_t bucket = 0;  // where its values lie: bucket, offset within the bucket
    int64_t offset = 0;
  };
  // The part of one parameter inside this rank's segment of its bucket.
  struct Piece {
    size_t param;         // into params_
    int64_t shard_begin;  // within the segment of the parameter's bucket
    int64_t param_begin;  // within the parameter, flat
    int64_t length;
  };

  // Copies this rank's segment of every bucket's parameters into values_.
  void read_owned_values();

  distributed::GradientBuckets& buckets_;
  distributed::Communicator& world_;
  double lr_, beta1_, beta2_, eps_;
  int64_t step_ = 0;
  std::vector<Param> params_;  // groups in order: nn::AdamW's parameter index
  std::vector<Piece> pieces_;
  std::vector<std::vector<size_t>> params_of_bucket_;  // into params_
  std::vector<Tensor> values_, exp_avg_, exp_avg_sq_;  // per bucket: [segment] (moments f32)
};

}  // namespace clipgrad::clip
