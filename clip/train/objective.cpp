#include "clip/train/objective.h"

#include <stdexcept>

#include "clip/train/loss.h"

namespace clipgrad::clip {

const Variable& ObjectiveOutput::total() const {
  auto found = losses.find("total");
  if (found == losses.end()) throw std::logic_error("objective output has no 'total' loss");
  return found->second;
}

ObjectiveOutput ClipObjective::forward(ClipModel& model, const TrainBatch& batch) const {
  Variable image_features = model.encode_image(Variable(batch.images.at(0)));
  Variable text_features = model.encode_text(batch.tokens.at(0));
  ContrastiveOutput contrastive = contrastive_loss(image_features, text_features, model.logit_scale, batch.global);
  return {.losses = {{"total", contrastive.loss}},
          .tensors = {
              {"image_features", image_features}, {"text_features", text_features}, {"logits", contrastive.logits}}};
}

ObjectiveOutput forward_backward(ClipModel& model, const Objective& objective, const TrainBatch& batch) {
  model.zero_grad();
  ObjectiveOutput output = objective.forward(model, batch);
  Variable total = output.total();
  total.backward();
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
