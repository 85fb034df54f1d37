// The CleanCLIP objective (Bansal et al., ICCV 2023):
//   total = lambda1 * L_clip(image, text) + lambda2 * L_inmodal
//   L_inmodal = (L(image, aug_image) + L(text, aug_text)) / 2
// where each L is CLIP's symmetric contrastive loss with the shared logit scale.
#pragma once

#include "clip/loss.h"

namespace clipgrad::cleanclip {

struct ObjectiveOutput {
  Variable clip;     // []
  Variable inmodal;  // []
  Variable total;    // []
};

// image, text, aug_image, aug_text [N, E] unnormalised embeddings; logit_scale [].
ObjectiveOutput cleanclip_objective(const Variable& image, const Variable& text, const Variable& aug_image,
                                    const Variable& aug_text, const Variable& logit_scale, double lambda_clip,
                                    double lambda_inmodal);

}  // namespace clipgrad::cleanclip
