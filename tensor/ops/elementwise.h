// Element-wise raw ops on CPU tensors (f32 and f64), OpenMP-parallel.
#pragma once

#include "tensor/tensor.h"

namespace clipgrad::ops {

Tensor add(const Tensor& a, const Tensor& b);   // same shape
void add_inplace(Tensor& a, const Tensor& b);   // a += b, same shape
Tensor scale(const Tensor& a, double factor);   // a * factor

}  // namespace clipgrad::ops
