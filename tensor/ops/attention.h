// Scaled dot-product attention on any device (f32 and f64; CUDA: f32), and
// its backward: the attention family's raw ops (kernels in
// tensor/cpu/attention.cpp and tensor/cuda/fused/attention.cu).
//
// The kernels work on head-split tensors [B, L, hd] (B = N * heads); the
// split/merge helpers move between [N, L, D] and that layout.
#pragma once

#include "tensor/tensor.h"

namespace clipgrad::ops {

// x [N, L, heads * hd] -> [N * heads, L, hd] (a free view when heads == 1).
Tensor split_heads(const Tensor& x, int64_t heads);
// x [N * heads, L, hd] -> [N, L, heads * hd] (a free view when heads == 1).
Tensor merge_heads(const Tensor& x, int64_t heads);

// q [B, Lq, hd], k [B, Lk, hd], v [B, Lk, hd], mask [Lq, Lk] additive or
// undefined (entries may be -inf, but no row may be all -inf) ->
// out [B, Lq, hd] = softmax(scale * q k^T + mask) v. probs [B, Lq, Lk]
// receives the softmax, which is what the backward needs.
Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor& probs);

// grad [B, Lq, hd] of attention_heads with its saved q, k, v, probs. Writes
// (overwrites) each of grad_q [B, Lq, hd], grad_k, grad_v [B, Lk, hd] that is
// not null; they must be allocated with those shapes (they may be views).
void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v);

}  // namespace clipgrad::ops
