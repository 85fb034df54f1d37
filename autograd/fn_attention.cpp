// Attention ops: scaled dot-product attention and OpenAI-layout multi-head
// self-attention. Forward and backward side by side.
#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functional.h"
#include "tensor/ops/attention.h"
#include "tensor/ops/shape.h"

namespace clipgrad::fn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Gradients of the head-split q, k, v, allocated only where asked for.
struct HeadGrads {
  Tensor q, k, v;  // [B, Lq, hd], [B, Lk, hd], [B, Lk, hd]
};

// Self-attention on packed projections: qkv [N, L, 3D] (q | k | v along the
// last dim, as nn.MultiheadAttention's in_proj packs them) -> [N, L, D].
// One permute splits all three into heads and one merges their gradients
// back, instead of three slices, three splits and three zero-filled
// [N, L, 3D] slice gradients.
Variable packed_self_attention(const Variable& qkv, int64_t heads, const Tensor& mask) {
  const int64_t N = qkv.shape()[0], L = qkv.shape()[1], D = qkv.shape()[2] / 3, hd = D / heads, B = N * heads;
  // [N, L, 3, H, hd] -> [3, N, H, L, hd], viewed as three [B, L, hd] blocks.
  Tensor heads_qkv = ops::permute(qkv.value().reshape({N, L, 3, heads, hd}), {2, 0, 3, 1, 4}).reshape({3, B, L, hd});
  auto block = [B, L, hd](const Tensor& t, int64_t i) { return t.rows(i, i + 1).reshape({B, L, hd}); };
  const Tensor q = block(heads_qkv, 0), k = block(heads_qkv, 1), v = block(heads_qkv, 2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  Tensor probs;  // [B, L, L]
  Tensor out = ops::merge_heads(ops::attention_heads(q, k, v, mask, scale, probs), heads);
  return make_result(out, {qkv}, [=](const Tensor& grad, std::vector<Variable>& in) {
    Tensor grad_heads = Tensor::empty({3, B, L, hd}, grad.dtype(), grad.device());  // [3, B, L, hd]
    Tensor grad_q = block(grad_heads, 0), grad_k = block(grad_heads, 1), grad_v = block(grad_heads, 2);
    ops::attention_heads_backward(ops::split_heads(grad, heads), q, k, v, probs, scale, &grad_q, &grad_k, &grad_v);
    // [3, N, H, L, hd] -> [N, L, 3, H, hd] = [N, L, 3D]
    in[0].add_grad(ops::permute(grad_heads.reshape({3, N, heads, L, hd}), {1, 3, 0, 2, 4}).reshape({N, L, 3 * D}));
  });
}

}  // namespace

// q [N, Lq, D], k, v [N, Lk, D], mask [Lq, Lk] or undefined -> [N, Lq, D]
Variable attention(const Variable& q, const Variable& k, const Variable& v, int64_t heads, const Tensor& mask) {
  if (q.dim() != 3 || k.dim() != 3 || k.shape() != v.shape() || k.size(0) != q.size(0) || k.size(2) != q.size(2))
    throw std::invalid_argument("attention: expected q [N, Lq, D] and k, v [N, Lk, D], got q " + shape_str(q.shape()) +
                                ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()));
  if (heads < 1 || q.size(2) % heads != 0)
    throw std::invalid_argument("attention: " + str(q.size(2)) + " features do not split into " + str(heads) +
                                " heads");
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2) / heads));
  Tensor q_heads = ops::split_heads(q.value(), heads);  // [B, Lq, hd]
  Tensor k_heads = ops::split_heads(k.value(), heads);  // [B, Lk, hd]
  Tensor v_heads = ops::split_heads(v.value(), heads);  // [B, Lk, hd]
  Tensor probs;                                         // [B, Lq, Lk]
  Tensor out = ops::merge_heads(ops::attention_heads(q_heads, k_heads, v_heads, mask, scale, probs), heads);
  return make_result(out, {q, k, v}, [=](const Tensor& grad, std::vector<Variable>& in) {
    HeadGrads g;
    if (in[0].requires_grad()) g.q = Tensor::empty(q_heads.shape(), grad.dtype(), grad.device());
    if (in[1].requires_grad()) g.k = Tensor::empty(k_heads.shape(), grad.dtype(), grad.device());
    if (in[2].requires_grad()) g.v = Tensor::empty(v_heads.shape(), grad.dtype(), grad.device());
    ops::attention_heads_backward(ops::split_heads(grad, heads), q_heads, k_heads, v_heads, probs, scale,
                                  g.q.defined() ? &g.q : nullptr, g.k.defined() ? &g.k : nullptr,
                                  g.v.defined() ? &g.v : nullptr);
    if (g.q.defined()) in[0].add_grad(ops::merge_heads(g.q, heads));
    if (g.k.defined()) in[1].add_grad(ops::merge_heads(g.k, heads));
    if (g.v.defined()) in[2].add_grad(ops::merge_heads(g.v, heads));
  });
}

// x [N, L, D], in_proj_weight [3D, D], in_proj_bias [3D], out_proj_weight [D, D], out_proj_bias [D] -> [N, L, D]
Variable multi_head_attention(const Variable& x, const Variable& in_proj_weight, const Variable& in_proj_bias,
                              const Variable& out_proj_weight, const Variable& out_proj_bias, int64_t heads,
                              const Tensor& mask) {
  const int64_t D = x.dim() == 3 ? x.size(2) : -1;
  if (D < 1 || in_proj_weight.shape() != Shape{3 * D, D} || out_proj_weight.shape() != Shape{D, D})
    throw std::invalid_argument(
        "multi_head_attention: expected x [N, L, D], in_proj_weight [3D, D] and "
        "out_proj_weight [D, D], got x " +
        shape_str(x.shape()) + ", in_proj_weight " + shape_str(in_proj_weight.shape()) + ", out_proj_weight " +
        shape_str(out_proj_weight.shape()));
  if (heads < 1 || D % heads != 0)
    throw std::invalid_argument("multi_head_attention: " + str(D) + " features do not split into " + str(heads) +
                                " heads");
  Variable qkv = linear(x, in_proj_weight, in_proj_bias);  // [N, L, 3D]
  return linear(packed_self_attention(qkv, heads, mask), out_proj_weight, out_proj_bias);
}

}  // namespace clipgrad::fn
