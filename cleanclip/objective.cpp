#include "cleanclip/objective.h"

namespace clipgrad::cleanclip {

ObjectiveOutput cleanclip_objective(const Variable& image, const Variable& text, const Variable& aug_image,
                                    const Variable& aug_text, const Variable& logit_scale, double lambda_clip,
                                    double lambda_inmodal) {
  Tensor targets = clip::diagonal_targets(image.size(0));
  Variable clip = clip::contrastive_loss(image, text, logit_scale).loss;
  Variable image_inmodal = fn::cross_entropy(clip::scaled_cosine_logits(image, aug_image, logit_scale), targets);
  Variable text_inmodal = fn::cross_entropy(clip::scaled_cosine_logits(text, aug_text, logit_scale), targets);
  Variable inmodal = fn::scale(fn::add(image_inmodal, text_inmodal), 0.5);
  Variable total = fn::add(fn::scale(clip, lambda_clip), fn::scale(inmodal, lambda_inmodal));
  return {clip, inmodal, total};
}

}  // namespace clipgrad::cleanclip
