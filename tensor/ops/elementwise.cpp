// The ops of tensor/ops/elementwise.h: their argument checks, then dispatch.
#include "tensor/ops/elementwise.h"

#include <stdexcept>

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

namespace {

// a and b of one dtype whose shapes broadcast together (broadcast_shape throws naming them otherwise).
void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_same_dtype(a, b, op);
  broadcast_shape(a.shape(), b.shape());
}

// A backward's grad_output and saved tensor (input or output): one shape, one dtype.
void check_backward(const Tensor& grad_output, const Tensor& saved, const char* op) {
  check_same_shape(grad_output, saved, op);
  check_same_dtype(grad_output, saved, op);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "add");
  return kernel<RawOp::add>({&a, &b})(a, b);
}

void add_inplace(Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add_inplace");
  check_same_dtype(a, b, "add_inplace");
  kernel<RawOp::add_inplace>({&a, &b})(a, b);
}

void fill(Tensor& a, double value) {
  check_floating(a, "fill");
  kernel<RawOp::fill>({&a})(a, value);
}

void add_scalar_inplace(Tensor& a, double value) { kernel<RawOp::add_scalar_inplace>({&a})(a, value); }

Tensor convert(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  return kernel<RawOp::convert>({&x})(x, dtype);
}

Tensor scale(const Tensor& a, double factor) { return kernel<RawOp::scale>({&a})(a, factor); }

Tensor sub(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "sub");
  return kernel<RawOp::sub>({&a, &b})(a, b);
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "mul");
  return kernel<RawOp::mul>({&a, &b})(a, b);
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "div");
  return kernel<RawOp::div>({&a, &b})(a, b);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (broadcast_shape(x.shape(), shape) != shape)
    throw std::invalid_argument("broadcast_to: shape " + shape_str(x.shape()) + " does not broadcast to " +
                                shape_str(shape));
  return kernel<RawOp::broadcast_to>({&x})(x, shape);
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  if (shape.size() > x.shape().size() || broadcast_shape(shape, x.shape()) != x.shape())
    throw std::invalid_argument("sum_to_shape: " + shape_str(x.shape()) + " is not a broadcast of " + shape_str(shape));
  if (x.shape() == shape) return x;
  return kernel<RawOp::sum_to_shape>({&x})(x, shape);
}

Tensor exp(const Tensor& x) { return kernel<RawOp::exp>({&x})(x); }

Tensor log(const Tensor& x) { return kernel<RawOp::log>({&x})(x); }

Tensor rsqrt(const Tensor& x) { return kernel<RawOp::rsqrt>({&x})(x); }

Tensor relu(const Tensor& x) { return kernel<RawOp::relu>({&x})(x); }

Tensor gelu(const Tensor& x) { return kernel<RawOp::gelu>({&x})(x); }

Tensor quick_gelu(const Tensor& x) { return kernel<RawOp::quick_gelu>({&x})(x); }

Tensor rsqrt_backward(const Tensor& grad_output, const Tensor& y) {
  check_backward(grad_output, y, "rsqrt_backward");
  return kernel<RawOp::rsqrt_backward>({&grad_output, &y})(grad_output, y);
}

Tensor relu_backward(const Tensor& grad_output, const Tensor& x) {
  check_backward(grad_output, x, "relu_backward");
  return kernel<RawOp::relu_backward>({&grad_output, &x})(grad_output, x);
}

Tensor gelu_backward(const Tensor& grad_output, const Tensor& x) {
  check_backward(grad_output, x, "gelu_backward");
  return kernel<RawOp::gelu_backward>({&grad_output, &x})(grad_output, x);
}

Tensor quick_gelu_backward(const Tensor& grad_output, const Tensor& x) {
  check_backward(grad_output, x, "quick_gelu_backward");
  return kernel<RawOp::quick_gelu_backward>({&grad_output, &x})(grad_output, x);
}

}  // namespace clipgrad::ops
