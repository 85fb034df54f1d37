// Device dispatch of the ops in tensor/ops/reduce.h.
#include "tensor/ops/reduce.h"

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return kernel("sum", &Kernels::sum, {&x})(x, dim, keepdim); }

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  return kernel("mean", &Kernels::mean, {&x})(x, dim, keepdim);
}

Tensor sum_all(const Tensor& x) { return kernel("sum_all", &Kernels::sum_all, {&x})(x); }

Tensor softmax(const Tensor& x, int64_t dim) { return kernel("softmax", &Kernels::softmax, {&x})(x, dim); }

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return kernel("log_softmax", &Kernels::log_softmax, {&x})(x, dim);
}

Tensor softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  return kernel("softmax_backward", &Kernels::softmax_backward, {&grad_output, &y})(grad_output, y, dim);
}

Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  return kernel("log_softmax_backward", &Kernels::log_softmax_backward, {&grad_output, &y})(grad_output, y, dim);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  return kernel("cross_entropy", &Kernels::cross_entropy, {&logits, &targets})(logits, targets);
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double grad_loss) {
  return kernel("cross_entropy_backward", &Kernels::cross_entropy_backward, {&logits, &targets})(logits, targets, grad_loss);
}

ContrastiveCrossEntropy contrastive_cross_entropy(const Tensor& logits, ContrastiveDirections directions) {
  return kernel("contrastive_cross_entropy", &Kernels::contrastive_cross_entropy, {&logits})(logits, directions);
}

LayerNormOutput layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return kernel("layer_norm", &Kernels::layer_norm, {&x, &weight, &bias})(x, weight, bias, eps);
}

LayerNormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd, bool need_x, bool need_weight, bool need_bias) {
  return kernel("layer_norm_backward", &Kernels::layer_norm_backward, {&grad_output, &x, &weight, &mean, &rstd})(grad_output, x, weight, mean, rstd, need_x, need_weight, need_bias);
}

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  return kernel("l2_normalize", &Kernels::l2_normalize, {&x})(x, dim, eps);
}

Tensor l2_normalize_backward(const Tensor& grad_output, const Tensor& x, int64_t dim, double eps) {
  return kernel("l2_normalize_backward", &Kernels::l2_normalize_backward, {&grad_output, &x})(grad_output, x, dim, eps);
}

}  // namespace clipgrad::ops
