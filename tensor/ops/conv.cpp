// Device dispatch of the ops in tensor/ops/conv.h.
#include "tensor/ops/conv.h"

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  return kernel("conv2d", &Kernels::conv2d, {&x, &weight, &bias})(x, weight, bias, stride, padding);
}

Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding, bool need_x, bool need_weight, bool need_bias) {
  return kernel("conv2d_backward", &Kernels::conv2d_backward, {&grad, &x, &weight})(grad, x, weight, stride, padding, need_x, need_weight, need_bias);
}

Tensor avg_pool2d(const Tensor& x, int64_t window) {
  return kernel("avg_pool2d", &Kernels::avg_pool2d, {&x})(x, window);
}

Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, int64_t window) {
  return kernel("avg_pool2d_backward", &Kernels::avg_pool2d_backward, {&grad})(grad, input_shape, window);
}

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var, bool training, double momentum, double eps, BatchNormSaved& saved) {
  return kernel("batch_norm", &Kernels::batch_norm, {&x, &weight, &bias, &running_mean, &running_var})(x, weight, bias, running_mean, running_var, training, momentum, eps, saved);
}

BatchNormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const BatchNormSaved& saved, bool need_x, bool need_weight, bool need_bias) {
  return kernel("batch_norm_backward", &Kernels::batch_norm_backward, {&grad, &x, &weight})(grad, x, weight, saved, need_x, need_weight, need_bias);
}

}  // namespace clipgrad::ops
