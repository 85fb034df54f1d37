#include "clip/loss.h"

#include <numeric>

namespace clipgrad::clip {

ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale) {
  int64_t n = a.size(0);
  Variable scale = fn::exp(fn::reshape(logit_scale, {}));
  Variable similarity = fn::matmul(fn::l2_normalize(a, -1), fn::l2_normalize(b, -1), false, true);  // [N, N]
  Variable logits = fn::mul(similarity, scale);
  std::vector<int32_t> diagonal(n);
  std::iota(diagonal.begin(), diagonal.end(), 0);
  Tensor targets = Tensor::from_vector<int32_t>({n}, diagonal);
  Variable loss = fn::scale(fn::add(fn::cross_entropy(logits, targets),
                                    fn::cross_entropy(fn::transpose(logits, 0, 1), targets)),
                            0.5);
  return {loss, logits};
}

}  // namespace clipgrad::clip
