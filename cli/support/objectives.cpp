#include "cli/support/objectives.h"

#include "cleanclip/objective.h"

namespace clipgrad::cli {

clip::ObjectiveRegistry objective_registry() {
  clip::ObjectiveRegistry registry;
  registry.add("cleanclip", cleanclip::make_cleanclip_objective);
  return registry;
}

}  // namespace clipgrad::cli
