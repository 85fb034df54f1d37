#include "clip/train/objective.h"

#include <optional>
#include <stdexcept>

#include "clip/train/loss.h"

namespace clipgrad::clip {

const Variable& ObjectiveOutput::total() const {
  auto found = losses.find("total");
  if (found == losses.end()) throw std::logic_error("objective output has no 'total' loss");
  return found->second;
}

ObjectiveOutput Objective::forward(ClipModel& model, const TrainBatch& batch) const {
  std::map<std::string, Variable> computed = features(model, batch);
  ObjectiveOutput output = loss(computed, model.logit_scale, batch.global);
  output.tensors.insert(computed.begin(), computed.end());
  return output;
}

std::map<std::string, Variable> ClipObjective::features(ClipModel& model, const TrainBatch& batch) const {
  return {{"image_features", model.encode_image(Variable(batch.images.at(0)))},
          {"text_features", model.encode_text(batch.tokens.at(0))}};
}

ObjectiveOutput ClipObjective::loss(const std::map<std::string, Variable>& features, const Variable& logit_scale,
                                    const GlobalBatch& global) const {
  ContrastiveOutput contrastive =
      contrastive_loss(features.at("image_features"), features.at("text_features"), logit_scale, global);
  return {.losses = {{"total", contrastive.loss}}, .tensors = {{"logits", contrastive.logits}}};
}

ObjectiveOutput forward_backward(ClipModel& model, const Objective& objective, const TrainBatch& batch) {
  model.zero_grad();
  ObjectiveOutput output = objective.forward(model, batch);
  Variable total = output.total();
  total.backward();
  return output;
}

std::vector<TrainBatch> split_batch(const TrainBatch& batch, int64_t count) {
  const int64_t rows = static_cast<int64_t>(batch.rows.size());
  if (count < 1 || rows % count != 0)
    throw std::invalid_argument("cannot cut a batch of " + std::to_string(rows) + " rows into " +
                                std::to_string(count) + " equal micro-batches");
  const int64_t size = rows / count;
  std::vector<TrainBatch> micro(count);
  for (int64_t j = 0; j < count; ++j) {
    for (const Tensor& images : batch.images) micro[j].images.push_back(images.rows(j * size, (j + 1) * size));
    for (const Tensor& tokens : batch.tokens) micro[j].tokens.push_back(tokens.rows(j * size, (j + 1) * size));
    micro[j].rows.assign(batch.rows.begin() + j * size, batch.rows.begin() + (j + 1) * size);
    micro[j].global = batch.global;
  }
  return micro;
}

ObjectiveOutput accumulated_forward_backward(ClipModel& model, const Objective& objective,
                                             const std::vector<TrainBatch>& micro_batches) {
  const size_t count = micro_batches.size();
  std::vector<std::map<std::string, Variable>> cached(count);
  {
    NoGradGuard no_graph;
    for (size_t j = 0; j < count; ++j) cached[j] = objective.features(model, micro_batches[j]);
  }
  model.zero_grad();
  ObjectiveOutput output;
  for (size_t j = 0; j < count; ++j) {
    std::map<std::string, Variable> live = objective.features(model, micro_batches[j]), whole;
    for (const auto& [name, feature] : live) {
      std::vector<Variable> parts;
      for (size_t i = 0; i < count; ++i) parts.push_back(i == j ? feature : cached[i].at(name));
      whole[name] = fn::concat(parts, 0);
    }
    // The scale enters every pass's loss; its gradient is taken in the first alone.
    const Variable scale = j == 0 ? model.logit_scale : Variable(model.logit_scale.value());
    output = objective.loss(whole, scale, micro_batches[j].global);
    std::optional<GradHooksPause> not_yet;  // data parallel reduces the gradients after the last pass
    if (j + 1 < count) not_yet.emplace();
    Variable total = output.total();
    total.backward();
  }
  return output;
}

ObjectiveRegistry::ObjectiveRegistry() {
  add("clip", [](const nlohmann::json&) { return std::make_unique<ClipObjective>(); });
}

void ObjectiveRegistry::add(const std::string& name, Factory factory) { factories_[name] = std::move(factory); }

std::unique_ptr<Objective> ObjectiveRegistry::make(const std::string& name, const nlohmann::json& config) const {
  auto found = factories_.find(name);
  if (found == factories_.end()) {
    std::string known;
    for (const auto& [known_name, factory] : factories_) known += (known.empty() ? "" : ", ") + known_name;
    throw std::invalid_argument("unknown objective '" + name + "' (known: " + known + ")");
  }
  return found->second(config.is_null() ? nlohmann::json::object() : config);
}

std::vector<std::string> ObjectiveRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, factory] : factories_) out.push_back(name);
  return out;
}

}  // namespace clipgrad::clip
