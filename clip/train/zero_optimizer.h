// ZeRO stage 1: AdamW with its state sharded over the data-parallel ranks.
//
// Each parameter has one owner rank (contiguous runs of the parameter list,
// balanced by size); a rank keeps the moments of the parameters it owns only,
// so the optimizer state per rank is about 1/N of AdamW's. Every rank holds
// the averaged gradients (the bucketed all-reduce); step() updates the owned
// parameters with the same arithmetic as nn::AdamW, then each parameter is
// broadcast from its owner, so every rank holds the same weights, the same
// bits as without sharding. (A reduce-scatter of the gradients instead of the
// all-reduce would also halve the gradient traffic; that is not done here.)
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dist/communicator.h"
#include "nn/optim.h"

namespace clipgrad::clip {

class ZeroOptimizer {
 public:
  ZeroOptimizer(const std::vector<nn::ParamGroup>& groups, dist::Communicator& world, double lr, double beta1,
                double beta2, double eps);

  void set_lr(double lr) { shard_->set_lr(lr); }
  void step();

  // nn::AdamW::state() of the unsharded optimizer over all the parameters,
  // gathered from the owners: a collective, every rank must call it.
  std::vector<std::pair<std::string, Tensor>> gather_state() const;
  // Takes this rank's part of an unsharded state (nn::AdamW's layout), so a
  // run resumes on any number of ranks.
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  dist::Communicator& world_;
  std::vector<Variable> params_;   // every parameter, groups in order (nn::AdamW's index)
  std::vector<int> owner_;         // per parameter
  std::vector<int64_t> shard_index_;  // per parameter: its index in its owner's shard optimizer
  std::unique_ptr<nn::AdamW> shard_;  // over this rank's parameters only
};

}  // namespace clipgrad::clip
