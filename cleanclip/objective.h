// The CleanCLIP objective (Bansal et al., ICCV 2023), as its reference code
// computes it:
//   total   = lambda_clip * L_clip + lambda_inmodal * L_inmodal
//   L_clip  = CLIP's symmetric contrastive loss of (image, text)
//   L_inmodal = (CE(s * image @ aug_image^T) + CE(s * text @ aug_text^T)) / 2
// with embeddings L2-normalised, s = exp(logit_scale) shared, and the in-modal
// terms one-directional (each original against the augmented batch).
#pragma once

#include "clip/train/loss.h"

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
