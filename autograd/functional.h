// The differentiable functional API: everything CLIP computes is built from
// these ops. Each op's forward and backward live side by side in one of the
// autograd/fn_*.cpp files; every op has a gradcheck in tests/autograd/.
//
// Shapes use N batch, L sequence, D features, C channels, H/W spatial.
// All ops accept f32 and f64 (f64 is for gradcheck); index tensors are i32.
#pragma once

#include <functional>

#include <vector>

#include "autograd/variable.h"
#include "tensor/ops/reduce.h"

namespace clipgrad::fn {

// ---- linear algebra (fn_linear.cpp) ----

// a [..., M, K] (or [..., K, M] if trans_a), b [..., K, N] (or [..., N, K] if
// trans_b) -> [..., M, N]. Batch dims must match, or b may be 2-D and shared.
Variable matmul(const Variable& a, const Variable& b, bool trans_a = false, bool trans_b = false);
// x [..., in], weight [out, in], bias [out] (may be undefined) -> [..., out]
Variable linear(const Variable& x, const Variable& weight, const Variable& bias = {});
// Under bf16 autocast (tensor/precision.h) matmul and linear of f32 values
// run on the bf16 GEMM as torch.autocast runs them: the operands rounded to
// bf16, the products summed in f32, the result and each gradient rounded to
// bf16 once (values kept in f32 between ops; backward keeps the bf16 operands).

// ---- element-wise with numpy broadcasting (fn_elementwise.cpp) ----
// x f32 [...] rounded to bf16 values (kept in f32); backward rounds the
// gradient the same way: where a bf16 op would round, under autocast.
Variable round_bf16(const Variable& x);
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable scale(const Variable& x, double factor);  // x * factor
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable rsqrt(const Variable& x);
Variable relu(const Variable& x);
Variable gelu(const Variable& x);        // exact: 0.5 x (1 + erf(x / sqrt 2))
Variable quick_gelu(const Variable& x);  // x * sigmoid(1.702 x)
// x broadcast to shape (numpy rules); backward sums over the broadcast dims.
Variable broadcast_to(const Variable& x, const Shape& shape);

// ---- reductions and normalisation (fn_reduce.cpp) ----
Variable sum(const Variable& x, int64_t dim, bool keepdim = false);
Variable mean(const Variable& x, int64_t dim, bool keepdim = false);
Variable sum_all(const Variable& x);  // -> shape []
// x / max(||x||_2, eps) along dim
Variable l2_normalize(const Variable& x, int64_t dim = -1, double eps = 1e-12);
Variable softmax(const Variable& x, int64_t dim = -1);
Variable log_softmax(const Variable& x, int64_t dim = -1);
// logits [N, C], targets i32 [N] with class indices -> mean loss, shape []
Variable cross_entropy(const Variable& logits, const Tensor& targets);
// logits [N, N] with the positives on the diagonal -> [] (ops::contrastive_cross_entropy):
// Symmetric averages both directions' cross-entropy (CLIP), RowsOnly is the rows' alone.
Variable contrastive_cross_entropy(const Variable& logits, ops::ContrastiveDirections directions);
// x [..., D] normalised over the last dim; weight, bias [D]
Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps = 1e-5);

// ---- shape and indexing (fn_shape.cpp) ----
Variable reshape(const Variable& x, const Shape& shape);  // a free view; one -1 allowed
Variable permute(const Variable& x, const std::vector<int64_t>& dims);
Variable transpose(const Variable& x, int64_t dim0, int64_t dim1);
Variable concat(const std::vector<Variable>& xs, int64_t dim);
// x restricted to [start, start + length) along dim (a copy)
Variable narrow(const Variable& x, int64_t dim, int64_t start, int64_t length);
// ids i32 [...], weight [V, D] -> [..., D]
Variable embedding(const Tensor& ids, const Variable& weight);
// x [N, L, D], index i32 [N] -> [N, D]: row index[n] of each x[n]
Variable gather_rows(const Variable& x, const Tensor& index);

// ---- convolutional (fn_conv.cpp) ----
// x [N, C, H, W], weight [O, C, kh, kw], bias [O] (may be undefined) -> [N, O, H', W']
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride = 1,
                int64_t padding = 0);
// x [N, C, H, W] -> [N, C, H / kernel, W / kernel]; stride = kernel, no padding
Variable avg_pool2d(const Variable& x, int64_t kernel);
// x [N, C, H, W]; weight, bias [C]. Training: batch statistics, and running_mean /
// running_var updated in place with momentum and the unbiased variance (as
// PyTorch). Eval: the running statistics.
Variable batch_norm(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- attention (fn_attention.cpp) ----
// Scaled dot-product attention with `heads` heads (D = heads * head_dim):
// q [N, Lq, D], k [N, Lk, D], v [N, Lk, D], mask [Lq, Lk] additive (may be
// undefined, may hold -inf) -> [N, Lq, D]
Variable attention(const Variable& q, const Variable& k, const Variable& v, int64_t heads, const Tensor& mask = {});
// Self-attention in OpenAI's nn.MultiheadAttention layout: x [N, L, D],
// in_proj_weight [3D, D], in_proj_bias [3D], out_proj_weight [D, D], out_proj_bias [D].
Variable multi_head_attention(const Variable& x, const Variable& in_proj_weight, const Variable& in_proj_bias,
                              const Variable& out_proj_weight, const Variable& out_proj_bias, int64_t heads,
                              const Tensor& mask = {});

// ---- gradient checkpointing (fn_checkpoint.cpp) ----
// body(input) computed without a graph: only `input` is kept. Backward runs body
// again with a graph and backpropagates through it, so the gradients are those
// of body(input) itself, to the bit. `params` are the parameters body reads (the
// result's inputs beside `input`: their data-parallel hooks wait for it); body
// must be deterministic and must not change state (no BatchNorm in training mode).
Variable checkpoint(const std::function<Variable(const Variable&)>& body, const Variable& input,
                    const std::vector<Variable>& params);

}  // namespace clipgrad::fn
