// conv2d and its backward on CUDA tensors through cuDNN (ops::conv2d, tensor/ops/conv.h).
#pragma once

#include "tensor/ops/conv.h"

namespace clipgrad::cuda_blas {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding);
ops::Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t stride,
                                 int64_t padding, bool need_x, bool need_weight, bool need_bias);

}  // namespace clipgrad::cuda_blas
