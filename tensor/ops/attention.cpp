// Device dispatch of the ops in tensor/ops/attention.h.
#include "tensor/ops/attention.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"
#include "tensor/ops/shape.h"

namespace clipgrad::ops {

namespace {

void check_heads_tensor(const Tensor& t, const char* op) {
  check_floating(t, op);
  if (t.dim() != 3) throw std::invalid_argument(std::string(op) + ": x must be 3-d, got " + shape_str(t.shape()));
}

}  // namespace

// Views and permutes, on any device.
Tensor split_heads(const Tensor& x, int64_t heads) {
  check_heads_tensor(x, "split_heads");
  const int64_t batch = x.shape()[0], length = x.shape()[1], features = x.shape()[2];
  if (heads < 1 || features % heads != 0)
    throw std::invalid_argument("split_heads: " + std::to_string(features) + " features of x " + shape_str(x.shape()) +
                                " do not split into " + std::to_string(heads) + " heads");
  const int64_t head_dim = features / heads;
  if (heads == 1) return x;
  return permute(x.reshape({batch, length, heads, head_dim}), {0, 2, 1, 3}).reshape({batch * heads, length, head_dim});
}

Tensor merge_heads(const Tensor& x, int64_t heads) {
  check_heads_tensor(x, "merge_heads");
  const int64_t batch_heads = x.shape()[0], length = x.shape()[1], head_dim = x.shape()[2];
  if (heads < 1 || batch_heads % heads != 0)
    throw std::invalid_argument("merge_heads: leading dim of x " + shape_str(x.shape()) + " is not a multiple of " +
                                std::to_string(heads) + " heads");
  if (heads == 1) return x;
  const int64_t batch = batch_heads / heads;
  return permute(x.reshape({batch, heads, length, head_dim}), {0, 2, 1, 3}).reshape({batch, length, heads * head_dim});
}

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale, Tensor& probs) {
  return kernel("attention_heads", &Kernels::attention_heads, {&q, &k, &v, &mask, &probs})(q, k, v, mask, scale, probs);
}

void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v) {
  kernel("attention_heads_backward", &Kernels::attention_heads_backward, {&grad, &q, &k, &v, &probs})(grad, q, k, v, probs, scale, grad_q, grad_k, grad_v);
}

}  // namespace clipgrad::ops
