// Scaled dot-product attention over head-split CUDA tensors (ops::attention_heads
// and its backward, tensor/ops/attention.h), f32.
#pragma once

#include "tensor/tensor.h"

namespace clipgrad::cuda_fused {

// The longest key sequence the fused kernels hold on chip (ViT-B/16 at 224 px: 197; 257 at 256 px).
constexpr int64_t kFusedMaxKeys = 257;

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor& probs);
void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v);

// Whether attention over Lk keys of head_dim features runs fused on the current device (else batched GEMMs).
bool attention_runs_fused(int64_t keys, int64_t head_dim);

}  // namespace clipgrad::cuda_fused
