#include "clip/train/loss.h"

namespace clipgrad::clip {

Variable scaled_cosine_logits(const Variable& a, const Variable& b, const Variable& logit_scale) {
  Variable scale = fn::exp(fn::reshape(logit_scale, {}));
  Variable similarity = fn::matmul(fn::l2_normalize(a, -1), fn::l2_normalize(b, -1), false, true);
  return fn::mul(similarity, scale);
}

ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale) {
  Variable logits = scaled_cosine_logits(a, b, logit_scale);
  return {fn::contrastive_cross_entropy(logits, ops::ContrastiveDirections::Symmetric), logits};
}

}  // namespace clipgrad::clip
