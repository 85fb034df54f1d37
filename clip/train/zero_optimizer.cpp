#include "clip/train/zero_optimizer.h"

#include <map>
#include <stdexcept>

namespace clipgrad::clip {

ZeroOptimizer::ZeroOptimizer(const std::vector<nn::ParamGroup>& groups, dist::Communicator& world, double lr,
                             double beta1, double beta2, double eps)
    : world_(world) {
  int64_t total = 0;
  for (const nn::ParamGroup& group : groups)
    for (const Variable& param : group.params) {
      params_.push_back(param);
      total += param.numel();
    }
  // Owner: the rank whose equal share of the flat parameter space holds the
  // parameter's middle element.
  const int ranks = world_.world_size();
  std::vector<int64_t> owned_count(ranks, 0);
  int64_t before = 0;
  for (const Variable& param : params_) {
    int64_t middle = before + param.numel() / 2;
    int owner = static_cast<int>(std::min<int64_t>(ranks - 1, total > 0 ? middle * ranks / total : 0));
    owner_.push_back(owner);
    shard_index_.push_back(owned_count[owner]++);
    before += param.numel();
  }
  std::vector<nn::ParamGroup> shard_groups;
  size_t index = 0;
  for (const nn::ParamGroup& group : groups) {
    nn::ParamGroup shard_group{{}, group.weight_decay};
    for (size_t i = 0; i < group.params.size(); ++i, ++index)
      if (owner_[index] == world_.rank()) shard_group.params.push_back(group.params[i]);
    shard_groups.push_back(std::move(shard_group));
  }
  shard_ = std::make_unique<nn::AdamW>(std::move(shard_groups), lr, beta1, beta2, eps);
}

void ZeroOptimizer::step() {
  shard_->step();
  for (size_t i = 0; i < params_.size(); ++i)
    world_.broadcast(params_[i].value(), owner_[i], "broadcast of updated parameter " + std::to_string(i));
}

std::vector<std::pair<std::string, Tensor>> ZeroOptimizer::gather_state() const {
  std::map<std::string, Tensor> mine;
  for (auto& [key, value] : shard_->state()) mine[key] = value;
  std::vector<std::pair<std::string, Tensor>> state{{"step", mine.at("step")}};
  for (size_t i = 0; i < params_.size(); ++i) {
    const bool owned = owner_[i] == world_.rank();
    const std::string local = std::to_string(shard_index_[i]), global = std::to_string(i);
    // The count first: the moments exist only once the parameter was updated.
    Tensor count = Tensor::scalar(owned ? mine.at("step." + local).item() : 0.0, DType::F64);
    world_.broadcast(count, owner_[i], "broadcast of optimizer step count " + global);
    state.emplace_back("step." + global, count.to(DType::I32));
    if (count.item() == 0) continue;
    for (const std::string moment : {"exp_avg.", "exp_avg_sq."}) {
      Tensor value = owned ? mine.at(moment + local) : Tensor::zeros(params_[i].shape());
      world_.broadcast(value, owner_[i], "broadcast of optimizer state " + moment + global);
      state.emplace_back(moment + global, value);
    }
  }
  return state;
}

void ZeroOptimizer::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, std::string> local_name{{"step", "step"}};
  for (size_t i = 0; i < params_.size(); ++i) {
    if (owner_[i] != world_.rank()) continue;
    for (const std::string prefix : {"step.", "exp_avg.", "exp_avg_sq."})
      local_name[prefix + std::to_string(i)] = prefix + std::to_string(shard_index_[i]);
  }
  std::vector<std::pair<std::string, Tensor>> shard_state;
  for (const auto& [key, value] : state) {
    auto found = local_name.find(key);
    if (found != local_name.end()) {
      shard_state.emplace_back(found->second, value);
      continue;
    }
    // Another rank's entry, or one of no parameter at all.
    size_t dot = key.rfind('.');
    size_t index = dot == std::string::npos ? params_.size() : std::stoul(key.substr(dot + 1));
    if (index >= params_.size())
      throw std::invalid_argument("ZeroOptimizer::load_state: unexpected entry '" + key + "' (the state must come "
                                  "from an optimizer over the same " + std::to_string(params_.size()) + " parameters)");
  }
  shard_->load_state(shard_state);
}

}  // namespace clipgrad::clip
