// Matrix products: forward and backward are the raw ops of tensor/ops/linalg.h.
#include "autograd/functional.h"
#include "tensor/ops/linalg.h"

namespace clipgrad::fn {

// a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] or [K, N] (trans_b: [..., N, K]) -> [..., M, N]
Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  Tensor out = ops::matmul(a.value(), b.value(), trans_a, trans_b);
  return make_result(out, {a, b}, [trans_a, trans_b](const Tensor& g, std::vector<Variable>& in) {
    ops::MatmulGrads grads = ops::matmul_backward(g, in[0].value(), in[1].value(), trans_a, trans_b,
                                                  in[0].requires_grad(), in[1].requires_grad());
    if (grads.a.defined()) in[0].add_grad(grads.a);
    if (grads.b.defined()) in[1].add_grad(grads.b);
  });
}

// x [..., in], weight [out, in], bias [out] or undefined -> [..., out]
Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
  Tensor out = ops::linear(x.value(), weight.value(), bias.defined() ? bias.value() : Tensor());
  std::vector<Variable> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return make_result(out, std::move(inputs), [](const Tensor& g, std::vector<Variable>& in) {
    const bool need_bias = in.size() > 2 && in[2].requires_grad();
    ops::LinearGrads grads = ops::linear_backward(g, in[0].value(), in[1].value(), in[0].requires_grad(),
                                                  in[1].requires_grad(), need_bias);
    if (grads.x.defined()) in[0].add_grad(grads.x);
    if (grads.weight.defined()) in[1].add_grad(grads.weight);
    if (grads.bias.defined()) in[2].add_grad(grads.bias);
  });
}

}  // namespace clipgrad::fn
