// Reductions and normalisations on any device (f32 and f64): the reduce,
// contrastive and norms families.
//
// `dim` may be negative (counted from the end). f32 sums accumulate in double,
// and every sum runs in an order that does not depend on the thread count, so
// results are reproducible bit for bit.
#pragma once

#include "tensor/tensor.h"

namespace clipgrad::ops {

// x [..., S, ...] -> [..., ...] (or [..., 1, ...] with keepdim), S at `dim`
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// x [...] -> []
Tensor sum_all(const Tensor& x);

// Along `dim`; max-subtracted, so no exp overflows. y has x's shape.
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Gradients wrt x, from grad_output and the forward's output y (same shape).
Tensor softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim);
Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim);

// logits [N, C], targets i32 [N] in [0, C) -> mean negative log-likelihood, []
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
// The gradient wrt logits [N, C], given the scalar gradient of the loss.
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double grad_loss);

// The InfoNCE loss of a square logit matrix whose positives are its diagonal
// (row i belongs with column i), and its gradient, from one pass over the
// logits for the log-sum-exp of every row and column (an online max and sum)
// and one for the gradient: no softmax matrix is ever stored.
//   symmetric: loss = (cross_entropy(logits, diag) + cross_entropy(logits^T, diag)) / 2  (CLIP)
//   otherwise: loss = cross_entropy(logits, diag)                (one direction: in-modal)
enum class ContrastiveDirections { RowsOnly, Symmetric };
struct ContrastiveCrossEntropy {
  Tensor loss;         // [] in logits' dtype
  Tensor grad_logits;  // [N, N] d loss / d logits
};
// logits [N, N], N >= 1
ContrastiveCrossEntropy contrastive_cross_entropy(const Tensor& logits, ContrastiveDirections directions);

// x [..., D] normalised over its last dim, then * weight [D] + bias [D].
struct LayerNormOutput {
  Tensor y;     // [..., D]
  Tensor mean;  // [R], R = numel / D: each row's mean
  Tensor rstd;  // [R]: each row's 1 / sqrt(biased variance + eps)
};
LayerNormOutput layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);

// Gradients of layer_norm; only the ones asked for are defined.
struct LayerNormGrads {
  Tensor x;       // [..., D]
  Tensor weight;  // [D]
  Tensor bias;    // [D]
};
LayerNormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, bool need_x, bool need_weight, bool need_bias);

// y = x / max(||x||_2, eps) along dim; y has x's shape.
Tensor l2_normalize(const Tensor& x, int64_t dim, double eps);
// The gradient wrt x (recomputes the norms from x).
Tensor l2_normalize_backward(const Tensor& grad_output, const Tensor& x, int64_t dim, double eps);

}  // namespace clipgrad::ops
