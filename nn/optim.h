// AdamW (decoupled weight decay, parameter groups) and the learning-rate
// schedule CLIP trains with (linear warmup, then cosine to zero).
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"
#include "tensor/ops/optim.h"

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
  // All parameters of one dtype and device are updated by one
  // ops::multi_tensor_adamw (on CUDA, one launch per 128 of them), with the
  // bits of one update per parameter. grad_scale: undefined, or f64 [] on the
  // parameters' device (clip_coefficient's), multiplying every gradient as it
  // is read, without a host read; the gradients themselves stay as they are.
  void step(const Tensor& grad_scale = Tensor());
  void zero_grad();

  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }
  int64_t step_count() const { return step_; }

  // Optimizer state for checkpoints: "step" (calls of step(), i32 []) and, per
  // parameter index i over all groups in order, "step.i" (the updates that
  // parameter received, i32 []: as in torch, each parameter counts its own
  // steps for the bias corrections, so one that skipped steps for lack of a
  // gradient continues exactly) and, once it has been updated, its f32 moments
  // "exp_avg.i" and "exp_avg_sq.i" (parameter shape). load_state takes a state
  // of an optimizer over parameters of the same shapes, and throws naming any
  // entry that is missing, unknown or of the wrong shape.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  ops::AdamWCoefficients coefficients(int64_t t, double weight_decay) const;

  std::vector<ParamGroup> groups_;
  double lr_, beta1_, beta2_, eps_;
  int64_t step_ = 0;
  // One entry per parameter, groups in order. Moments stay undefined until a
  // parameter's first update, so frozen parameters cost no state memory.
  std::vector<int64_t> param_steps_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;  // f32, parameter shape
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
// Edge cases: warmup_steps = 0 starts the cosine at step 0. When warmup_steps
// >= total_steps the whole run is warmup (the rate climbs towards base_lr and
// reaches it only if warmup_steps == total_steps). A cosine phase of a single
// step (total_steps = warmup_steps + 1, e.g. total_steps = 1 without warmup)
// has nowhere to decay to and uses t = 0, i.e. base_lr. Throws unless
// 0 <= step < total_steps and warmup_steps >= 0.
double warmup_cosine_lr(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps);

// Scales all gradients by max_norm / (total_norm + 1e-6) when that is below 1,
// as torch.nn.utils.clip_grad_norm_ with norm type 2; total_norm is the 2-norm
// of all gradients together (parameters without a gradient are skipped) and is
// returned. A non-finite norm leaves the gradients as they are, so the caller
// can see it and skip the step.
double clip_grad_norm(const std::vector<Variable>& params, double max_norm);

// clip_grad_norm without a host read and without touching the gradients: the
// squared 2-norm of all gradients and the coefficient clip_grad_norm would
// scale them by (1 when it would not), both f64 [] on the gradients' device,
// for AdamW::step(coefficient). Both undefined when no parameter has a
// gradient. Same bits as clip_grad_norm's scaled gradients once AdamW reads them.
struct GradClip {
  Tensor total_squares, coefficient;
};
GradClip clip_coefficient(const std::vector<Variable>& params, double max_norm);

}  // namespace clipgrad::nn
