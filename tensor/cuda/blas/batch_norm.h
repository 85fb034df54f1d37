// 2-d batch norm on CUDA tensors (ops::batch_norm and its backward, tensor/ops/conv.h).
#pragma once

#include "tensor/ops/conv.h"

namespace clipgrad::cuda_blas {

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  bool training, double momentum, double eps, ops::BatchNormSaved& saved);
ops::BatchNormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                        const ops::BatchNormSaved& saved, bool need_x, bool need_weight,
                                        bool need_bias);

}  // namespace clipgrad::cuda_blas
