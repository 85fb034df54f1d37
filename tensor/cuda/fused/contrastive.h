// The contrastive cross-entropy of CUDA logits (ops::contrastive_cross_entropy, tensor/ops/reduce.h), f32.
#pragma once

#include "tensor/ops/reduce.h"

namespace clipgrad::cuda_fused {

ops::ContrastiveCrossEntropy contrastive_cross_entropy(const Tensor& logits, ops::ContrastiveDirections directions);

}  // namespace clipgrad::cuda_fused
