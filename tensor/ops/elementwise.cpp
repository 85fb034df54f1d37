// Device dispatch of the ops in tensor/ops/elementwise.h.
#include "tensor/ops/elementwise.h"

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

Tensor add(const Tensor& a, const Tensor& b) { return kernel("add", &Kernels::add, {&a, &b})(a, b); }

void add_inplace(Tensor& a, const Tensor& b) { kernel("add_inplace", &Kernels::add_inplace, {&a, &b})(a, b); }

Tensor scale(const Tensor& a, double factor) { return kernel("scale", &Kernels::scale, {&a})(a, factor); }

Tensor sub(const Tensor& a, const Tensor& b) { return kernel("sub", &Kernels::sub, {&a, &b})(a, b); }

Tensor mul(const Tensor& a, const Tensor& b) { return kernel("mul", &Kernels::mul, {&a, &b})(a, b); }

Tensor div(const Tensor& a, const Tensor& b) { return kernel("div", &Kernels::div, {&a, &b})(a, b); }

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  return kernel("broadcast_to", &Kernels::broadcast_to, {&x})(x, shape);
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  return kernel("sum_to_shape", &Kernels::sum_to_shape, {&x})(x, shape);
}

Tensor exp(const Tensor& x) { return kernel("exp", &Kernels::exp, {&x})(x); }

Tensor log(const Tensor& x) { return kernel("log", &Kernels::log, {&x})(x); }

Tensor rsqrt(const Tensor& x) { return kernel("rsqrt", &Kernels::rsqrt, {&x})(x); }

Tensor relu(const Tensor& x) { return kernel("relu", &Kernels::relu, {&x})(x); }

Tensor gelu(const Tensor& x) { return kernel("gelu", &Kernels::gelu, {&x})(x); }

Tensor quick_gelu(const Tensor& x) { return kernel("quick_gelu", &Kernels::quick_gelu, {&x})(x); }

Tensor rsqrt_backward(const Tensor& grad_output, const Tensor& y) {
  return kernel("rsqrt_backward", &Kernels::rsqrt_backward, {&grad_output, &y})(grad_output, y);
}

Tensor relu_backward(const Tensor& grad_output, const Tensor& x) {
  return kernel("relu_backward", &Kernels::relu_backward, {&grad_output, &x})(grad_output, x);
}

Tensor gelu_backward(const Tensor& grad_output, const Tensor& x) {
  return kernel("gelu_backward", &Kernels::gelu_backward, {&grad_output, &x})(grad_output, x);
}

Tensor quick_gelu_backward(const Tensor& grad_output, const Tensor& x) {
  return kernel("quick_gelu_backward", &Kernels::quick_gelu_backward, {&grad_output, &x})(grad_output, x);
}

}  // namespace clipgrad::ops
