// Matrix products. The forwards are tensor/ops' matmul and linear; their
// backwards are compositions of the GEMM raw op, so they live here, beside
// the forward that records them (docs/ARCHITECTURE.md, "Where backward code
// lives").
#include "autograd/functional.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/linalg.h"
#include "tensor/precision.h"

namespace clipgrad::fn {

namespace {

struct MatmulGrads {
  Tensor a;  // a's shape
  Tensor b;  // b's shape; a shared b sums over the batch
};

// A gradient's dtype: the value's, but f32 for a bf16 operand (autocast), so
// that the GEMMs sum into f32 and the caller rounds once.
DType gradient_dtype(const Tensor& value) { return value.dtype() == DType::BF16 ? DType::F32 : value.dtype(); }
Tensor gradient_buffer(const Tensor& value) {
  return Tensor::empty(value.shape(), gradient_dtype(value), value.device());
}

// The gradient of a in matmul(a, b, ta, tb): a untransposed: g @ op(b)^T; a transposed: op(b) @ g^T.
Tensor matmul_grad_a(const ops::MatmulDims& d, const Tensor& g, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor grad = gradient_buffer(a);
  if (!ta && d.b_shared) {
    ops::gemm({.trans_b = !tb, .m = d.batch * d.m, .n = d.k, .k = d.n}, g, b, grad);
    return grad;
  }
  const int64_t stride_b = d.b_shared ? 0 : d.k * d.n;
  if (!ta) {
    ops::gemm({.trans_b = !tb,
               .batch = d.batch,
               .m = d.m,
               .n = d.k,
               .k = d.n,
               .stride_a = d.m * d.n,
               .stride_b = stride_b,
               .stride_c = d.m * d.k},
              g, b, grad);
  } else {
    ops::gemm({.trans_a = tb,
               .trans_b = true,
               .batch = d.batch,
               .m = d.k,
               .n = d.m,
               .k = d.n,
               .stride_a = stride_b,
               .stride_b = d.m * d.n,
               .stride_c = d.k * d.m},
              b, g, grad);
  }
  return grad;
}

// The gradient of b: b untransposed: op(a)^T @ g; b transposed: g^T @ op(a). A shared b sums over the batch.
Tensor matmul_grad_b(const ops::MatmulDims& d, const Tensor& g, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor grad = gradient_buffer(b);
  if (d.b_shared && !ta) {
    // The batch folds into the inner dim of one GEMM over the stacked rows.
    const int64_t rows = d.batch * d.m;
    if (!tb) {
      ops::gemm({.trans_a = true, .m = d.k, .n = d.n, .k = rows}, a, g, grad);
    } else {
      ops::gemm({.trans_a = true, .m = d.n, .n = d.k, .k = rows}, g, a, grad);
    }
  } else if (!d.b_shared) {
    if (!tb) {
      ops::gemm({.trans_a = !ta,
                 .batch = d.batch,
                 .m = d.k,
                 .n = d.n,
                 .k = d.m,
                 .stride_a = d.m * d.k,
                 .stride_b = d.m * d.n,
                 .stride_c = d.k * d.n},
                a, g, grad);
    } else {
      ops::gemm({.trans_a = true,
                 .trans_b = ta,
                 .batch = d.batch,
                 .m = d.n,
                 .n = d.k,
                 .k = d.m,
                 .stride_a = d.m * d.n,
                 .stride_b = d.m * d.k,
                 .stride_c = d.n * d.k},
                g, a, grad);
    }
  } else {
    // A shared b with transposed a cannot stack rows: accumulate one product per batch entry.
    const Tensor a3 = a.reshape({d.batch, d.k, d.m}), g3 = g.reshape({d.batch, d.m, d.n});
    for (int64_t i = 0; i < d.batch; ++i) {
      const Tensor a_i = a3.rows(i, i + 1), g_i = g3.rows(i, i + 1);  // [K, M], [M, N]
      const double beta = i == 0 ? 0.0 : 1.0;
      if (!tb) {
        ops::gemm({.m = d.k, .n = d.n, .k = d.m, .beta = beta}, a_i, g_i, grad);
      } else {
        ops::gemm({.trans_a = true, .trans_b = true, .m = d.n, .n = d.k, .k = d.m, .beta = beta}, g_i, a_i, grad);
      }
    }
  }
  return grad;
}

// grad [..., M, N] of matmul(a, b, ta, tb); only the gradients asked for are defined.
MatmulGrads matmul_backward(const Tensor& g, const Tensor& a, const Tensor& b, bool ta, bool tb, bool need_a,
                            bool need_b) {
  const ops::MatmulDims d = ops::matmul_dims(a, b, ta, tb);
  MatmulGrads grads;
  if (d.empty()) {
    if (need_a) grads.a = Tensor::zeros(a.shape(), gradient_dtype(a), a.device());
    if (need_b) grads.b = Tensor::zeros(b.shape(), gradient_dtype(b), b.device());
    return grads;
  }
  if (need_a) grads.a = matmul_grad_a(d, g, a, b, ta, tb);
  if (need_b) grads.b = matmul_grad_b(d, g, a, b, ta, tb);
  return grads;
}

struct LinearGrads {
  Tensor x;       // [..., in]
  Tensor weight;  // [out, in]
  Tensor bias;    // [out]
};

// grad [..., out] of linear(x, weight, bias); only the gradients asked for are defined.
LinearGrads linear_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool need_x, bool need_weight,
                            bool need_bias) {
  const ops::LinearDims d = ops::linear_dims(x, weight, Tensor());
  const bool empty = d.rows * d.in * d.out == 0;
  auto gradient_like = [empty](const Tensor& value) {
    return empty ? Tensor::zeros(value.shape(), gradient_dtype(value), value.device()) : gradient_buffer(value);
  };
  LinearGrads grads;
  if (need_x) {
    // grad_x [rows, in] = g [rows, out] @ weight [out, in]
    grads.x = gradient_like(x);
    if (!empty) ops::gemm({.m = d.rows, .n = d.in, .k = d.out}, g, weight, grads.x);
  }
  if (need_weight) {
    // grad_weight [out, in] = g^T [out, rows] @ x [rows, in]
    grads.weight = gradient_like(weight);
    if (!empty) ops::gemm({.trans_a = true, .m = d.out, .n = d.in, .k = d.rows}, g, x, grads.weight);
  }
  if (need_bias) grads.bias = ops::sum_to_shape(g.reshape({d.rows, d.out}), {d.out});
  return grads;
}

Tensor to_bf16(const Tensor& t) { return ops::convert(t, DType::BF16); }
Tensor bf16_rounded(const Tensor& t) { return ops::convert(to_bf16(t), DType::F32); }

// Under bf16 autocast (tensor/precision.h), whether a product of f32 operands
// runs in bf16 (the callers keep an empty product in f32: it computes nothing).
bool autocast_applies(const Tensor& a) { return autocast_bf16_enabled() && a.dtype() == DType::F32; }

// linear under autocast: x, weight and bias to bf16, the output and the
// gradients rounded to bf16 once (the bias's summed in f32 first).
Variable linear_bf16(const Variable& x, const Variable& weight, const Variable& bias) {
  const Tensor x16 = to_bf16(x.value()), weight16 = to_bf16(weight.value());
  const Tensor out = ops::linear(x16, weight16, bias.defined() ? to_bf16(bias.value()) : Tensor());
  std::vector<Variable> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return make_result(ops::convert(out, DType::F32), std::move(inputs),
                     [x16, weight16](const Tensor& g, std::vector<Variable>& in) {
                       const Tensor g16 = to_bf16(g);
                       const LinearGrads grads =
                           linear_backward(g16, x16, weight16, in[0].requires_grad(), in[1].requires_grad(), false);
                       if (grads.x.defined()) in[0].add_grad(bf16_rounded(grads.x));
                       if (grads.weight.defined()) in[1].add_grad(bf16_rounded(grads.weight));
                       if (in.size() > 2 && in[2].requires_grad()) {
                         const int64_t features = weight16.size(0);
                         const Tensor rows = ops::convert(g16, DType::F32).reshape({-1, features});
                         in[2].add_grad(bf16_rounded(ops::sum_to_shape(rows, {features})));
                       }
                     });
}

// matmul under autocast: both operands to bf16, the result and the gradients rounded to bf16 once.
Variable matmul_bf16(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  const Tensor a16 = to_bf16(a.value()), b16 = to_bf16(b.value());
  return make_result(ops::convert(ops::matmul(a16, b16, trans_a, trans_b), DType::F32), {a, b},
                     [a16, b16, trans_a, trans_b](const Tensor& g, std::vector<Variable>& in) {
                       const MatmulGrads grads = matmul_backward(to_bf16(g), a16, b16, trans_a, trans_b,
                                                                 in[0].requires_grad(), in[1].requires_grad());
                       if (grads.a.defined()) in[0].add_grad(bf16_rounded(grads.a));
                       if (grads.b.defined()) in[1].add_grad(bf16_rounded(grads.b));
                     });
}

}  // namespace

// a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] or [K, N] (trans_b: [..., N, K]) -> [..., M, N]
Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  if (autocast_applies(a.value()) && !ops::matmul_dims(a.value(), b.value(), trans_a, trans_b).empty())
    return matmul_bf16(a, b, trans_a, trans_b);
  Tensor out = ops::matmul(a.value(), b.value(), trans_a, trans_b);
  return make_result(out, {a, b}, [trans_a, trans_b](const Tensor& g, std::vector<Variable>& in) {
    MatmulGrads grads = matmul_backward(g, in[0].value(), in[1].value(), trans_a, trans_b, in[0].requires_grad(),
                                        in[1].requires_grad());
    if (grads.a.defined()) in[0].add_grad(grads.a);
    if (grads.b.defined()) in[1].add_grad(grads.b);
  });
}

// x [..., in], weight [out, in], bias [out] or undefined -> [..., out]
Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
  if (autocast_applies(x.value())) {
    const ops::LinearDims d = ops::linear_dims(x.value(), weight.value(), Tensor());
    if (d.rows * d.in * d.out > 0) return linear_bf16(x, weight, bias);
  }
  Tensor out = ops::linear(x.value(), weight.value(), bias.defined() ? bias.value() : Tensor());
  std::vector<Variable> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return make_result(out, std::move(inputs), [](const Tensor& g, std::vector<Variable>& in) {
    const bool need_bias = in.size() > 2 && in[2].requires_grad();
    LinearGrads grads =
        linear_backward(g, in[0].value(), in[1].value(), in[0].requires_grad(), in[1].requires_grad(), need_bias);
    if (grads.x.defined()) in[0].add_grad(grads.x);
    if (grads.weight.defined()) in[1].add_grad(grads.weight);
    if (grads.bias.defined()) in[2].add_grad(grads.bias);
  });
}

}  // namespace clipgrad::fn
