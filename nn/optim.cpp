#include "nn/optim.h"

#include <cmath>
#include <map>
#include <numbers>
#include <stdexcept>

#include "tensor/ops/elementwise.h"
#include "tensor/ops/optim.h"

namespace clipgrad::nn {

AdamW::AdamW(std::vector<ParamGroup> groups, double lr, double beta1, double beta2, double eps)
    : groups_(std::move(groups)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0))
    throw std::invalid_argument("AdamW: need lr >= 0, 0 <= beta1, beta2 < 1 and eps >= 0; got lr " +
                                std::to_string(lr) + ", betas (" + std::to_string(beta1) + ", " +
                                std::to_string(beta2) + "), eps " + std::to_string(eps));
  size_t count = 0;
  for (const ParamGroup& group : groups_) {
    for (const Variable& param : group.params) {
      if (!param.defined()) throw std::invalid_argument("AdamW: parameter group holds an undefined variable");
      check_floating(param.value(), "AdamW");
    }
    count += group.params.size();
  }
  param_steps_.assign(count, 0);
  exp_avg_.resize(count);
  exp_avg_sq_.resize(count);
}

void AdamW::step(const Tensor& grad_scale) {
  ++step_;
  // One list per (dtype, device), parameters in order within each.
  std::map<std::pair<DType, Device>, std::vector<ops::AdamWParam>> lists;
  size_t index = 0;
  for (ParamGroup& group : groups_) {
    for (Variable& param : group.params) {
      size_t i = index++;
      if (!param.has_grad()) continue;
      const Tensor& grad = param.grad();
      Tensor& value = param.value();
      if (grad.dtype() != value.dtype() || grad.shape() != value.shape())
        throw std::logic_error("AdamW::step: parameter " + std::to_string(i) + " " + shape_str(value.shape()) + " " +
                               dtype_name(value.dtype()) + " has a gradient " + shape_str(grad.shape()) + " " +
                               dtype_name(grad.dtype()));
      if (!exp_avg_[i].defined()) {
        exp_avg_[i] = Tensor::zeros(value.shape(), DType::F32, value.device());
        exp_avg_sq_[i] = Tensor::zeros(value.shape(), DType::F32, value.device());
      }
      lists[{value.dtype(), value.device()}].push_back(
          {value, grad, exp_avg_[i], exp_avg_sq_[i], coefficients(++param_steps_[i], group.weight_decay)});
    }
  }
  for (const auto& [key, list] : lists) ops::multi_tensor_adamw(list, grad_scale);
}

// torch's scalars for a parameter's t-th update, in double.
ops::AdamWCoefficients AdamW::coefficients(int64_t t, double weight_decay) const {
  double bias_correction1 = 1.0 - std::pow(beta1_, double(t));
  double bias_correction2 = 1.0 - std::pow(beta2_, double(t));
  return {1.0 - lr_ * weight_decay,    1.0 - beta1_, beta2_, 1.0 - beta2_, lr_ / bias_correction1,
          std::sqrt(bias_correction2), eps_};
}

void AdamW::zero_grad() {
  for (ParamGroup& group : groups_)
    for (Variable& param : group.params) param.zero_grad();
}

std::vector<std::pair<std::string, Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("step", Tensor::scalar(double(step_), DType::I32));
  for (size_t i = 0; i < param_steps_.size(); ++i) {
    std::string index = std::to_string(i);
    out.emplace_back("step." + index, Tensor::scalar(double(param_steps_[i]), DType::I32));
    // Copies: a checkpoint is a snapshot, and later steps update the moments in place.
    if (exp_avg_[i].defined()) {
      out.emplace_back("exp_avg." + index, exp_avg_[i].clone());
      out.emplace_back("exp_avg_sq." + index, exp_avg_sq_[i].clone());
    }
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, Tensor> entries;
  std::vector<std::string> problems;
  for (const auto& [name, tensor] : state)
    if (!entries.emplace(name, tensor).second) problems.push_back("duplicate entry '" + name + "'");

  std::vector<const Variable*> params;
  for (const ParamGroup& group : groups_)
    for (const Variable& param : group.params) params.push_back(&param);

  auto take = [&](const std::string& name) -> Tensor {
    auto found = entries.find(name);
    if (found == entries.end()) return {};
    Tensor tensor = found->second;
    entries.erase(found);
    return tensor;
  };
  auto scalar_count = [&](const std::string& name, int64_t& target) {
    Tensor tensor = take(name);
    if (!tensor.defined()) {
      problems.push_back("missing entry '" + name + "'");
    } else if (tensor.numel() != 1 || !(tensor.item() >= 0)) {
      problems.push_back("entry '" + name + "' must be one count >= 0, got shape " + shape_str(tensor.shape()));
    } else {
      target = int64_t(tensor.item());
    }
  };

  int64_t step = 0;
  std::vector<int64_t> param_steps(params.size(), 0);
  std::vector<Tensor> exp_avg(params.size()), exp_avg_sq(params.size());
  scalar_count("step", step);
  for (size_t i = 0; i < params.size(); ++i) {
    std::string index = std::to_string(i);
    scalar_count("step." + index, param_steps[i]);
    Tensor first = take("exp_avg." + index), second = take("exp_avg_sq." + index);
    const Shape& shape = params[i]->shape();
    if (first.defined() != second.defined() || (param_steps[i] > 0 && !first.defined())) {
      problems.push_back("parameter " + index + " needs both 'exp_avg." + index + "' and 'exp_avg_sq." + index +
                         "' (it has taken " + std::to_string(param_steps[i]) + " steps)");
      continue;
    }
    if (!first.defined()) continue;
    if (first.shape() != shape || second.shape() != shape) {
      problems.push_back("moments of parameter " + index + " have shapes " + shape_str(first.shape()) + " and " +
                         shape_str(second.shape()) + ", the parameter has " + shape_str(shape));
      continue;
    }
    // to() always copies, so the optimizer never shares memory with the caller.
    exp_avg[i] = first.to(DType::F32).to(params[i]->value().device());
    exp_avg_sq[i] = second.to(DType::F32).to(params[i]->value().device());
  }
  for (const auto& [name, tensor] : entries) problems.push_back("unexpected entry '" + name + "'");
  if (!problems.empty()) {
    std::string message = "AdamW::load_state: " + problems[0];
    for (size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
    throw std::invalid_argument(message + " (the state must come from an optimizer over the same parameters)");
  }
  step_ = step;
  param_steps_ = std::move(param_steps);
  exp_avg_ = std::move(exp_avg);
  exp_avg_sq_ = std::move(exp_avg_sq);
}

std::vector<ParamGroup> clip_param_groups(const std::vector<std::pair<std::string, Variable>>& named_params,
                                          double weight_decay) {
  auto excluded = [](const std::string& name, const Variable& param) {
    return param.dim() < 2 || name.find("bn") != std::string::npos || name.find("ln") != std::string::npos ||
           name.find("bias") != std::string::npos || name.find("logit_scale") != std::string::npos;
  };
  // Order as open_clip builds them: the no-decay group first.
  ParamGroup no_decay{{}, 0.0}, decay{{}, weight_decay};
  for (const auto& [name, param] : named_params) {
    if (!param.requires_grad()) continue;  // frozen: nothing to optimise
    (excluded(name, param) ? no_decay : decay).params.push_back(param);
  }
  return {no_decay, decay};
}

double warmup_cosine_lr(double base_lr, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  if (total_steps < 1 || warmup_steps < 0 || step < 0 || step >= total_steps)
    throw std::invalid_argument("warmup_cosine_lr: step " + std::to_string(step) + " of a run of " +
                                std::to_string(total_steps) + " steps with " + std::to_string(warmup_steps) +
                                " warmup steps; need 0 <= step < total_steps and warmup_steps >= 0");
  if (step < warmup_steps) return base_lr * double(step + 1) / double(warmup_steps);
  int64_t cosine_steps = total_steps - warmup_steps;  // >= 1: warmup_steps <= step < total_steps
  double t = cosine_steps > 1 ? double(step - warmup_steps) / double(cosine_steps - 1) : 0.0;
  return 0.5 * (1.0 + std::cos(std::numbers::pi * t)) * base_lr;
}

double clip_grad_norm(const std::vector<Variable>& params, double max_norm) {
  if (!(max_norm > 0))
    throw std::invalid_argument("clip_grad_norm: max_norm must be > 0, got " + std::to_string(max_norm));
  // One sum per gradient, each in a fixed order, added in parameter order:
  // the same bits whatever the thread count.
  // One host read for all of them (on CUDA, one sync per step, not per parameter).
  std::vector<Tensor> grads;
  for (const Variable& param : params)
    if (param.has_grad()) grads.push_back(param.grad());
  if (grads.empty()) return 0.0;
  double total_norm = std::sqrt(ops::sum_squares_of(grads).item());
  double coefficient = max_norm / (total_norm + 1e-6);
  if (std::isfinite(total_norm) && coefficient < 1.0) {
    for (Variable param : params) {
      if (!param.has_grad()) continue;
      // A gradient may share storage with another variable's (see
      // Variable::add_grad), so it is replaced, never scaled in place.
      Tensor scaled = ops::scale(param.grad(), coefficient);
      param.zero_grad();
      param.add_grad(scaled);
    }
  }
  return total_norm;
}

GradClip clip_coefficient(const std::vector<Variable>& params, double max_norm) {
  if (!(max_norm > 0))
    throw std::invalid_argument("clip_coefficient: max_norm must be > 0, got " + std::to_string(max_norm));
  std::vector<Tensor> grads;
  for (const Variable& param : params)
    if (param.has_grad()) grads.push_back(param.grad());
  if (grads.empty()) return {};
  Tensor total_squares = ops::sum_squares_of(grads);
  return {total_squares, ops::clip_coefficient(total_squares, max_norm)};
}

}  // namespace clipgrad::nn
