// AdamW (decoupled weight decay, parameter groups) and the learning-rate
// schedule CLIP trains with (linear warmup, then cosine to zero).
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"

namespace clipgrad::nn {

struct ParamGroup {
  std::vector<Variable> params;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);

  // One update of every parameter that has a gradient, as torch.optim.AdamW:
  // p -= lr * wd * p; m, v moments; bias-corrected step. Runs under no-grad.
  void step();
  void zero_grad();

  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t step_count() const { return step_; }

  // Optimizer state for checkpoints: "step" and, per parameter index i over
  // all groups in order, "exp_avg.i" and "exp_avg_sq.i".
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  std::vector<ParamGroup> groups_;
  double lr_, beta1_, beta2_, eps_;
  int64_t step_ = 0;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;  // one per parameter, groups in order
};

// CLIP's no-decay rule: gains, biases, norms and logit_scale (any parameter
// with fewer than 2 dims, or whose name contains "bn", "ln", "bias" or
// "logit_scale") get weight decay 0; the rest get weight_decay.
std::vector<ParamGroup> clip_param_groups(const std::vector<std::pair<std::string, Variable>>& named_params,
                                          double weight_decay);

// The learning rate of step `step` (0-based) of a run of total_steps steps:
// warmup base_lr * (step + 1) / warmup_steps while step < warmup_steps, then
// cosine 0.5 * (1 + cos(pi * t)) * base_lr with t going from 0 at the first
// step after warmup to 1 at the last step (total_steps - 1).
double warmup_cosine_lr(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps);

}  // namespace clipgrad::nn
