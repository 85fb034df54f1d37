// Device dispatch of the ops in tensor/ops/attention.h.
#include "tensor/ops/attention.h"

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

Tensor split_heads(const Tensor& x, int64_t heads) {
  return kernel("split_heads", &Kernels::split_heads, {&x})(x, heads);
}

Tensor merge_heads(const Tensor& x, int64_t heads) {
  return kernel("merge_heads", &Kernels::merge_heads, {&x})(x, heads);
}

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale, Tensor& probs) {
  return kernel("attention_heads", &Kernels::attention_heads, {&q, &k, &v, &mask, &probs})(q, k, v, mask, scale, probs);
}

void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v) {
  kernel("attention_heads_backward", &Kernels::attention_heads_backward, {&grad, &q, &k, &v, &probs})(grad, q, k, v, probs, scale, grad_q, grad_k, grad_v);
}

}  // namespace clipgrad::ops
