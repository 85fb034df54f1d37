#include "cli/objectives.h"

#include "cleanclip/objective.h"

namespace clipgrad::cli {

clip::ObjectiveRegistry objective_registry() {
  clip::ObjectiveRegistry registry;
  registry.add("cleanclip", [](const nlohmann::json& config) -> std::unique_ptr<clip::Objective> {
    throw std::runtime_error("objective 'cleanclip': augmentations not built yet");
  });
  return registry;
}

}  // namespace clipgrad::cli
