// The objectives `clipgrad train --objective NAME` knows: CLIP's (from clip/)
// and CleanCLIP's (from cleanclip/, with its augmentations). The trainer
// rebuilds a run's objective from this registry on resume.
#pragma once

#include "clip/train/objective.h"

namespace clipgrad::cli {

clip::ObjectiveRegistry objective_registry();

}  // namespace clipgrad::cli
