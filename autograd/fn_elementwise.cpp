// Element-wise ops with numpy broadcasting. A broadcast input's gradient is
// the output gradient summed back to the input's shape (ops::sum_to_shape).
#include "autograd/functional.h"
#include "tensor/ops/elementwise.h"

namespace clipgrad::fn {

// a [sa...], b [sb...] -> [broadcast(sa, sb)...]
Variable add(const Variable& a, const Variable& b) {
  return make_result(ops::add(a.value(), b.value()), {a, b}, [](const Tensor& g, std::vector<Variable>& in) {
    for (Variable& input : in)
      if (input.requires_grad()) input.add_grad(ops::sum_to_shape(g, input.shape()));
  });
}

// a [sa...], b [sb...] -> [broadcast(sa, sb)...]
Variable sub(const Variable& a, const Variable& b) {
  return make_result(ops::sub(a.value(), b.value()), {a, b}, [](const Tensor& g, std::vector<Variable>& in) {
    if (in[0].requires_grad()) in[0].add_grad(ops::sum_to_shape(g, in[0].shape()));
    if (in[1].requires_grad()) in[1].add_grad(ops::scale(ops::sum_to_shape(g, in[1].shape()), -1.0));
  });
}

// a [sa...], b [sb...] -> [broadcast(sa, sb)...]
Variable mul(const Variable& a, const Variable& b) {
  return make_result(ops::mul(a.value(), b.value()), {a, b}, [](const Tensor& g, std::vector<Variable>& in) {
    if (in[0].requires_grad()) in[0].add_grad(ops::sum_to_shape(ops::mul(g, in[1].value()), in[0].shape()));
    if (in[1].requires_grad()) in[1].add_grad(ops::sum_to_shape(ops::mul(g, in[0].value()), in[1].shape()));
  });
}

// a [sa...], b [sb...] -> [broadcast(sa, sb)...]
Variable div(const Variable& a, const Variable& b) {
  Tensor quotient = ops::div(a.value(), b.value());
  return make_result(quotient, {a, b}, [quotient](const Tensor& g, std::vector<Variable>& in) {
    // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
    Tensor g_over_b = ops::div(g, in[1].value());
    if (in[0].requires_grad()) in[0].add_grad(ops::sum_to_shape(g_over_b, in[0].shape()));
    if (in[1].requires_grad())
      in[1].add_grad(ops::scale(ops::sum_to_shape(ops::mul(g_over_b, quotient), in[1].shape()), -1.0));
  });
}

Variable round_bf16(const Variable& x) {
  const auto rounded = [](const Tensor& t) { return ops::convert(ops::convert(t, DType::BF16), t.dtype()); };
  return make_result(rounded(x.value()), {x},
                     [rounded](const Tensor& g, std::vector<Variable>& in) { in[0].add_grad(rounded(g)); });
}

// x [...] -> [...]
Variable scale(const Variable& x, double factor) {
  return make_result(ops::scale(x.value(), factor), {x},
                     [factor](const Tensor& g, std::vector<Variable>& in) { in[0].add_grad(ops::scale(g, factor)); });
}

// x [...] -> [...]
Variable exp(const Variable& x) {
  Tensor y = ops::exp(x.value());
  return make_result(y, {x}, [y](const Tensor& g, std::vector<Variable>& in) { in[0].add_grad(ops::mul(g, y)); });
}

// x [...] -> [...]
Variable log(const Variable& x) {
  return make_result(ops::log(x.value()), {x},
                     [](const Tensor& g, std::vector<Variable>& in) { in[0].add_grad(ops::div(g, in[0].value())); });
}

// x [...] -> [...]
Variable rsqrt(const Variable& x) {
  Tensor y = ops::rsqrt(x.value());
  return make_result(y, {x},
                     [y](const Tensor& g, std::vector<Variable>& in) { in[0].add_grad(ops::rsqrt_backward(g, y)); });
}

// x [...] -> [...]
Variable relu(const Variable& x) {
  return make_result(ops::relu(x.value()), {x}, [](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::relu_backward(g, in[0].value()));
  });
}

// x [...] -> [...]
Variable gelu(const Variable& x) {
  return make_result(ops::gelu(x.value()), {x}, [](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::gelu_backward(g, in[0].value()));
  });
}

// x [...] -> [...]
Variable quick_gelu(const Variable& x) {
  return make_result(ops::quick_gelu(x.value()), {x}, [](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::quick_gelu_backward(g, in[0].value()));
  });
}

// x [s...] -> [shape...]
Variable broadcast_to(const Variable& x, const Shape& shape) {
  return make_result(ops::broadcast_to(x.value(), shape), {x}, [](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::sum_to_shape(g, in[0].shape()));
  });
}

}  // namespace clipgrad::fn
