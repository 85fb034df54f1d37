// Element-wise raw ops on any device (f32 and f64; convert: any dtype): the elementwise family.
//
// Binary ops broadcast with numpy rules: shapes are right-aligned and each
// pair of dims must be equal or one of them 1. Both operands must share a dtype.
#pragma once

#include "tensor/shape_rules.h"
#include "tensor/tensor.h"

namespace clipgrad::ops {

Tensor add(const Tensor& a, const Tensor& b);  // a + b, broadcast
void add_inplace(Tensor& a, const Tensor& b);  // a += b, same shape
// a = value everywhere, in place, where a lives: on a device, no host memory
// and no upload (Tensor::fill goes through the host), e.g. backward's seed.
void fill(Tensor& a, double value);
// a += value in place, any dtype, where a lives: each element in double, then
// converted back (convert_element), e.g. a device counter without a host read.
void add_scalar_inplace(Tensor& a, double value);
// x [...] in `dtype` (any dtype to any), converted where x lives with
// convert_element (tensor/element_convert.h): on a device nothing goes
// through the host. x itself when it is already in `dtype`.
Tensor convert(const Tensor& x, DType dtype);
Tensor scale(const Tensor& a, double factor);  // a * factor
Tensor sub(const Tensor& a, const Tensor& b);  // a - b, broadcast
Tensor mul(const Tensor& a, const Tensor& b);  // a * b, broadcast
Tensor div(const Tensor& a, const Tensor& b);  // a / b, broadcast

// x [s...] -> [shape...], where s broadcasts to shape (a new tensor).
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// The adjoint of broadcast_to: x [...] summed over the dims in which `shape`
// was broadcast, -> [shape...]. Returns x itself when the shapes already match.
Tensor sum_to_shape(const Tensor& x, const Shape& shape);

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor rsqrt(const Tensor& x);  // 1 / sqrt(x)
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);        // exact: 0.5 x (1 + erf(x / sqrt 2))
Tensor quick_gelu(const Tensor& x);  // x * sigmoid(1.702 x)

// Backward kernels: the gradient wrt the op's input, given grad_output (the
// shape of x) and what each formula needs: the input x or the output y.
Tensor rsqrt_backward(const Tensor& grad_output, const Tensor& y);
Tensor relu_backward(const Tensor& grad_output, const Tensor& x);
Tensor gelu_backward(const Tensor& grad_output, const Tensor& x);
Tensor quick_gelu_backward(const Tensor& grad_output, const Tensor& x);

}  // namespace clipgrad::ops
