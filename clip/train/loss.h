// CLIP's symmetric InfoNCE loss with a learnable temperature.
#pragma once

#include "autograd/functional.h"

namespace clipgrad::clip {

// a [N, E], b [M, E] unnormalised embeddings; logit_scale [] or [1], the log of
// the inverse temperature -> [N, M] = exp(logit_scale) * normalize(a) @ normalize(b)^T
Variable scaled_cosine_logits(const Variable& a, const Variable& b, const Variable& logit_scale);

struct ContrastiveOutput {
  Variable loss;    // []
  Variable logits;  // [N, N] scaled_cosine_logits(a, b)
};

// Rows i of a and b belong together.
// loss = (cross_entropy(logits, diag) + cross_entropy(logits^T, diag)) / 2,
// fused into one op (ops::contrastive_cross_entropy) that never stores a softmax.
ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale);

}  // namespace clipgrad::clip
