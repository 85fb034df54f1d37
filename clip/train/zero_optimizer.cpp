#include "clip/train/zero_optimizer.h"

#include <cmath>
#include <map>
#include <stdexcept>

#include "tensor/ops/elementwise.h"
#include "tensor/ops/optim.h"

namespace clipgrad::clip {

ZeroOptimizer::ZeroOptimizer(const std::vector<nn::ParamGroup>& groups, distributed::GradientBuckets& buckets,
                             distributed::Communicator& world, double lr, double beta1, double beta2, double eps)
    : buckets_(buckets), world_(world), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  if (buckets_.reduction() != distributed::GradientReduction::reduce_scatter)
    throw std::logic_error("ZeroOptimizer: the gradient buckets must reduce-scatter");
  // Where each of the buckets' parameters lies.
  std::map<const VariableNode*, std::pair<size_t, int64_t>> place;
  for (size_t b = 0; b < buckets_.buckets().size(); ++b) {
    int64_t offset = 0;
    for (size_t i : buckets_.buckets()[b]) {
      place[buckets_.params()[i].node()] = {b, offset};
      offset += buckets_.params()[i].numel();
    }
  }
  params_of_bucket_.resize(buckets_.buckets().size());
  for (const nn::ParamGroup& group : groups)
    for (const Variable& variable : group.params) {
      auto found = place.find(variable.node());
      if (found == place.end())
        throw std::invalid_argument("ZeroOptimizer: parameter " + std::to_string(params_.size()) +
                                    " is in no gradient bucket");
      params_of_bucket_[found->second.first].push_back(params_.size());
      params_.push_back({variable, group.weight_decay, 0, found->second.first, found->second.second});
    }
  // This rank's segment of bucket b is [rank * S, (rank + 1) * S) of its flat layout.
  for (size_t b = 0; b < params_of_bucket_.size(); ++b) {
    const int64_t segment = buckets_.segment(b), begin = world_.rank() * segment, end = begin + segment;
    for (size_t p : params_of_bucket_[b]) {
      const Param& param = params_[p];
      const int64_t lo = std::max(begin, param.offset), hi = std::min(end, param.offset + param.variable.numel());
      if (lo < hi) pieces_.push_back({p, lo - begin, lo - param.offset, hi - lo});
    }
    const Tensor& value = buckets_.params()[buckets_.buckets()[b][0]].value();
    values_.push_back(Tensor::zeros({segment}, value.dtype(), value.device()));
    exp_avg_.push_back(Tensor::zeros({segment}, DType::F32, value.device()));
    exp_avg_sq_.push_back(Tensor::zeros({segment}, DType::F32, value.device()));
  }
}

void ZeroOptimizer::read_owned_values() {
  for (const Piece& piece : pieces_) {
    const Param& param = params_[piece.param];
    Tensor flat = param.variable.value().reshape({param.variable.numel()});
    values_[param.bucket]
        .rows(piece.shard_begin, piece.shard_begin + piece.length)
        .copy_from(flat.rows(piece.param_begin, piece.param_begin + piece.length));
  }
}

double ZeroOptimizer::clip_grad_norm(double max_norm) {
  if (!(max_norm > 0))
    throw std::invalid_argument("clip_grad_norm: max_norm must be > 0, got " + std::to_string(max_norm));
  std::vector<Tensor> shards;
  for (size_t b = 0; b < values_.size(); ++b) shards.push_back(buckets_.shard(b));
  // On the host: the all-reduce below is MPI's for a CPU tensor (as before the total stayed on the device).
  Tensor total = shards.empty() ? Tensor::scalar(0.0, DType::F64) : ops::sum_squares_of(shards).to(Device::CPU);
  world_.all_reduce_sum(total, "all-reduce of the gradient's squared norm");
  const double total_norm = std::sqrt(total.item()), coefficient = max_norm / (total_norm + 1e-6);
  if (std::isfinite(total_norm) && coefficient < 1.0)
    for (size_t b = 0; b < values_.size(); ++b) buckets_.shard(b) = ops::scale(buckets_.shard(b), coefficient);
  return total_norm;
}

void ZeroOptimizer::step() {
  ++step_;
  for (Param& param : params_) ++param.steps;  // every one has a gradient: the buckets average them all
  read_owned_values();
  for (const Piece& piece : pieces_) {
    const Param& param = params_[piece.param];
    // nn::AdamW::step's coefficients, to the bit.
    const double bias_correction1 = 1.0 - std::pow(beta1_, double(param.steps));
    const double bias_correction2 = 1.0 - std::pow(beta2_, double(param.steps));
    const ops::AdamWCoefficients c{
        1.0 - lr_ * param.weight_decay, 1.0 - beta1_, beta2_, 1.0 - beta2_, lr_ / bias_correction1,
        std::sqrt(bias_correction2),    eps_};
    const int64_t begin = piece.shard_begin, end = begin + piece.length;
    Tensor value = values_[param.bucket].rows(begin, end);
    Tensor exp_avg = exp_avg_[param.bucket].rows(begin, end);
    Tensor exp_avg_sq = exp_avg_sq_[param.bucket].rows(begin, end);
    ops::adamw_update(value, buckets_.shard(param.bucket).rows(begin, end), exp_avg, exp_avg_sq, c);
  }
  for (size_t b = 0; b < values_.size(); ++b) {
    Tensor all = world_.all_gather_rows(values_[b], "all-gather of the parameters of bucket " + std::to_string(b));
    for (size_t p : params_of_bucket_[b]) {
      Param& param = params_[p];
      param.variable.value().copy_from(
          all.rows(param.offset, param.offset + param.variable.numel()).reshape(param.variable.shape()));
    }
  }
}

std::vector<std::pair<std::string, Tensor>> ZeroOptimizer::gather_state() const {
  std::vector<std::pair<std::string, Tensor>> state{{"step", Tensor::scalar(double(step_), DType::I32)}};
  for (size_t i = 0; i < params_.size(); ++i)
    state.emplace_back("step." + std::to_string(i), Tensor::scalar(double(params_[i].steps), DType::I32));
  for (size_t b = 0; b < values_.size(); ++b) {
    const std::string what = " of bucket " + std::to_string(b);
    Tensor exp_avg =
        world_.all_gather_rows(exp_avg_[b], "all-gather of the optimizer's exp_avg" + what).to(Device::CPU);
    Tensor exp_avg_sq =
        world_.all_gather_rows(exp_avg_sq_[b], "all-gather of the optimizer's exp_avg_sq" + what).to(Device::CPU);
    for (size_t p : params_of_bucket_[b]) {
      const Param& param = params_[p];
      if (param.steps == 0) continue;  // as nn::AdamW: moments exist once a parameter was updated
      const int64_t begin = param.offset, end = begin + param.variable.numel();
      state.emplace_back("exp_avg." + std::to_string(p),
                         exp_avg.rows(begin, end).reshape(param.variable.shape()).clone());
      state.emplace_back("exp_avg_sq." + std::to_string(p),
                         exp_avg_sq.rows(begin, end).reshape(param.variable.shape()).clone());
    }
  }
  return state;
}

void ZeroOptimizer::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, Tensor> entries(state.begin(), state.end());
  auto take = [&](const std::string& name, bool required) -> Tensor {
    auto found = entries.find(name);
    if (found == entries.end()) {
      if (required) throw std::invalid_argument("ZeroOptimizer::load_state: missing entry '" + name + "'");
      return {};
    }
    Tensor tensor = found->second;
    entries.erase(found);
    return tensor;
  };
  const int64_t step = static_cast<int64_t>(take("step", true).item());
  std::vector<int64_t> steps(params_.size());
  std::vector<Tensor> exp_avg(params_.size()), exp_avg_sq(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string index = std::to_string(i);
    steps[i] = static_cast<int64_t>(take("step." + index, true).item());
    exp_avg[i] = take("exp_avg." + index, steps[i] > 0);
    exp_avg_sq[i] = take("exp_avg_sq." + index, steps[i] > 0);
    for (const Tensor& moment : {exp_avg[i], exp_avg_sq[i]})
      if (moment.defined() && moment.shape() != params_[i].variable.shape())
        throw std::invalid_argument("ZeroOptimizer::load_state: moments of parameter " + index + " have shape " +
                                    shape_str(moment.shape()) + ", the parameter has " +
                                    shape_str(params_[i].variable.shape()));
  }
  if (!entries.empty())
    throw std::invalid_argument("ZeroOptimizer::load_state: unexpected entry '" + entries.begin()->first +
                                "' (the state must come from an optimizer over the same " +
                                std::to_string(params_.size()) + " parameters)");
  step_ = step;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].steps = steps[i];
  for (size_t b = 0; b < values_.size(); ++b) {
    exp_avg_[b].fill(0.0);
    exp_avg_sq_[b].fill(0.0);
  }
  for (const Piece& piece : pieces_) {
    const Param& param = params_[piece.param];
    if (!exp_avg[piece.param].defined()) continue;
    const int64_t begin = piece.shard_begin, end = begin + piece.length;
    const int64_t from = piece.param_begin, to = from + piece.length;
    const Device device = values_[param.bucket].device();
    exp_avg_[param.bucket]
        .rows(begin, end)
        .copy_from(exp_avg[piece.param].reshape({-1}).rows(from, to).to(DType::F32).to(device));
    exp_avg_sq_[param.bucket]
        .rows(begin, end)
        .copy_from(exp_avg_sq[piece.param].reshape({-1}).rows(from, to).to(DType::F32).to(device));
  }
}

}  // namespace clipgrad::clip
