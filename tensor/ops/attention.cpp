// The ops of tensor/ops/attention.h: their argument checks, then dispatch.
#include "tensor/ops/attention.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"
#include "tensor/ops/shape.h"

namespace clipgrad::ops {

namespace {

void check_heads_tensor(const Tensor& t, const char* op, const char* what = "x") {
  check_floating(t, op);
  if (t.dim() != 3)
    throw std::invalid_argument(std::string(op) + ": " + what + " must be 3-d, got " + shape_str(t.shape()));
}

// q [B, Lq, hd], k and v [B, Lk, hd] of one dtype, Lq, Lk >= 1; mask [Lq, Lk] or undefined.
void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  check_heads_tensor(q, "attention", "q");
  check_heads_tensor(k, "attention", "k");
  check_heads_tensor(v, "attention", "v");
  const int64_t B = q.shape()[0], Lq = q.shape()[1], hd = q.shape()[2], Lk = k.shape()[1];
  if (k.shape() != Shape{B, Lk, hd} || v.shape() != k.shape() || k.dtype() != q.dtype() || v.dtype() != q.dtype() ||
      Lq < 1 || Lk < 1)
    throw std::invalid_argument(
        "attention: expected q [B, Lq, hd], k and v [B, Lk, hd] of one dtype with Lq, Lk >= 1, got q " +
        shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
  if (!mask.defined()) return;
  check_floating(mask, "attention mask");
  if (mask.shape() != Shape{Lq, Lk})
    throw std::invalid_argument("attention: mask must be [" + std::to_string(Lq) + ", " + std::to_string(Lk) +
                                "], got " + shape_str(mask.shape()));
}

// The backward's gradient and saved softmax fit q, k; each output asked for has its input's shape.
void check_attention_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& probs, const Tensor* grad_q, const Tensor* grad_k, const Tensor* grad_v) {
  check_attention(q, k, v, Tensor());
  check_same_shape(grad, q, "attention_backward");
  check_same_dtype(grad, q, "attention_backward");
  if (probs.shape() != Shape{q.shape()[0], q.shape()[1], k.shape()[1]} || probs.dtype() != q.dtype())
    throw std::invalid_argument("attention_backward: saved probabilities " + shape_str(probs.shape()) +
                                " do not match q " + shape_str(q.shape()) + " and k " + shape_str(k.shape()));
  if (grad_q) check_same_shape(*grad_q, q, "attention_backward grad_q");
  if (grad_k) check_same_shape(*grad_k, k, "attention_backward grad_k");
  if (grad_v) check_same_shape(*grad_v, v, "attention_backward grad_v");
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

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor& probs) {
  check_attention(q, k, v, mask);
  return kernel<RawOp::attention_heads>({&q, &k, &v, &mask})(q, k, v, mask, scale, probs);
}

void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v) {
  check_attention_backward(grad, q, k, v, probs, grad_q, grad_k, grad_v);
  // The outputs are on the op's device too: a gradient buffer made on the
  // wrong device is an error here, not a write through a foreign pointer.
  const Tensor none;
  kernel<RawOp::attention_heads_backward>(
      {&grad, &q, &k, &v, &probs, grad_q ? grad_q : &none, grad_k ? grad_k : &none, grad_v ? grad_v : &none})(
      grad, q, k, v, probs, scale, grad_q, grad_k, grad_v);
}

}  // namespace clipgrad::ops
