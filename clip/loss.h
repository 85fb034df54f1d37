// CLIP's symmetric InfoNCE loss with a learnable temperature.
#pragma once

#include "autograd/functional.h"

namespace clipgrad::clip {

struct ContrastiveOutput {
  Variable loss;    // []
  Variable logits;  // [N, N] = exp(logit_scale) * normalize(a) @ normalize(b)^T
};

// a, b [N, E] unnormalised embeddings whose row i belong together;
// logit_scale [] or [1], the log of the inverse temperature.
// loss = (cross_entropy(logits, arange N) + cross_entropy(logits^T, arange N)) / 2
ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale);

}  // namespace clipgrad::clip
