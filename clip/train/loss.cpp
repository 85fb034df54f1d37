#include "clip/train/loss.h"

#include <numeric>

namespace clipgrad::clip {

Variable scaled_cosine_logits(const Variable& a, const Variable& b, const Variable& logit_scale) {
  Variable scale = fn::exp(fn::reshape(logit_scale, {}));
  Variable similarity = fn::matmul(fn::l2_normalize(a, -1), fn::l2_normalize(b, -1), false, true);
  return fn::mul(similarity, scale);
}

Tensor diagonal_targets(int64_t n) {
  std::vector<int32_t> targets(n);
  std::iota(targets.begin(), targets.end(), 0);
  return Tensor::from_vector<int32_t>({n}, targets);
}

ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale) {
  Variable logits = scaled_cosine_logits(a, b, logit_scale);
  Tensor targets = diagonal_targets(a.size(0)).to(logits.value().device());
  Variable loss = fn::scale(fn::add(fn::cross_entropy(logits, targets),
                                    fn::cross_entropy(fn::transpose(logits, 0, 1), targets)),
                            0.5);
  return {loss, logits};
}

}  // namespace clipgrad::clip
