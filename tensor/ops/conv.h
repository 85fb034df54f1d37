// Convolutional raw ops on any device (f32 and f64): conv2d (the conv
// family), average pooling (pool) and 2-d batch norm (batch_norm), each with
// its backward. A backward computes only the gradients asked for; the others
// come back undefined.
#pragma once

#include "tensor/tensor.h"

namespace clipgrad::ops {

// x [N, C, H, W], weight [O, C, kh, kw], bias [O] or undefined ->
// [N, O, (H + 2p - kh) / s + 1, (W + 2p - kw) / s + 1]; zero padding p, stride s.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding);

struct Conv2dGrads {
  Tensor x;       // [N, C, H, W]
  Tensor weight;  // [O, C, kh, kw]
  Tensor bias;    // [O]
};
// grad [N, O, H', W'] of conv2d(x, weight, ., stride, padding).
Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding,
                            bool need_x, bool need_weight, bool need_bias);

// x [N, C, H, W] -> [N, C, H / kernel, W / kernel]: mean of each kernel x kernel
// window, stride = kernel, no padding (trailing rows/columns that do not fill
// a window are dropped, as PyTorch does).
Tensor avg_pool2d(const Tensor& x, int64_t kernel);
// grad [N, C, H / kernel, W / kernel] -> [N, C, H, W] (input_shape).
Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, int64_t kernel);

// What the batch-norm backward needs from its forward.
struct BatchNormSaved {
  Tensor mean;    // [C] the mean that was subtracted (batch or running)
  Tensor invstd;  // [C] 1 / sqrt(var + eps) for the variance that was used
  bool training;  // true: mean and var came from the batch, so they carry gradient
};

// x [N, C, H, W], weight, bias [C] -> y [N, C, H, W].
// training: normalise with the batch mean and biased variance and update
// running_mean, running_var [C] in place: r = (1 - momentum) r + momentum b,
// with the unbiased batch variance for running_var (as PyTorch).
// Otherwise normalise with the running statistics and leave them alone.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  bool training, double momentum, double eps, BatchNormSaved& saved);

struct BatchNormGrads {
  Tensor x;       // [N, C, H, W]
  Tensor weight;  // [C]
  Tensor bias;    // [C]
};
// grad [N, C, H, W] of batch_norm(x, weight, ...) with what its forward saved.
BatchNormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                   const BatchNormSaved& saved, bool need_x, bool need_weight, bool need_bias);

}  // namespace clipgrad::ops
