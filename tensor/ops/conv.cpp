// The ops of tensor/ops/conv.h: their argument checks, then dispatch.
#include "tensor/ops/conv.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"
#include "tensor/shape_rules.h"

namespace clipgrad::ops {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  const Conv2dShape c = conv2d_shape(x, weight, stride, padding);
  if (bias.defined() && (bias.shape() != Shape{c.out_channels} || bias.dtype() != x.dtype()))
    throw std::invalid_argument("conv2d: bias must be [" + std::to_string(c.out_channels) + "] " +
                                dtype_name(x.dtype()) + ", got " + shape_str(bias.shape()) + " " +
                                dtype_name(bias.dtype()));
  return kernel<RawOp::conv2d>({&x, &weight, &bias})(x, weight, bias, stride, padding);
}

Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding,
                            bool need_x, bool need_weight, bool need_bias) {
  const Conv2dShape c = conv2d_shape(x, weight, stride, padding);
  const Shape out_shape{c.batch, c.out_channels, c.out_h, c.out_w};
  if (grad.shape() != out_shape || grad.dtype() != x.dtype())
    throw std::invalid_argument("conv2d_backward: gradient " + shape_str(grad.shape()) + " " +
                                dtype_name(grad.dtype()) + " does not match the output " + shape_str(out_shape));
  return kernel<RawOp::conv2d_backward>({&grad, &x, &weight})(grad, x, weight, stride, padding, need_x, need_weight,
                                                              need_bias);
}

namespace {

// x [N, C, H, W] with H, W >= window >= 1.
void check_pool(const Shape& input_shape, int64_t window, const char* op) {
  if (input_shape.size() != 4 || window < 1 || input_shape[2] < window || input_shape[3] < window)
    throw std::invalid_argument(std::string(op) + ": needs x [N, C, H, W] with H, W >= kernel >= 1, got x " +
                                shape_str(input_shape) + " and kernel " + std::to_string(window));
}

}  // namespace

Tensor avg_pool2d(const Tensor& x, int64_t window) {
  check_floating(x, "avg_pool2d");
  check_pool(x.shape(), window, "avg_pool2d");
  return kernel<RawOp::avg_pool2d>({&x})(x, window);
}

Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, int64_t window) {
  check_floating(grad, "avg_pool2d_backward");
  check_pool(input_shape, window, "avg_pool2d_backward");
  const Shape pooled{input_shape[0], input_shape[1], input_shape[2] / window, input_shape[3] / window};
  if (grad.shape() != pooled)
    throw std::invalid_argument("avg_pool2d_backward: gradient " + shape_str(grad.shape()) +
                                " does not match the pooled shape of " + shape_str(input_shape));
  return kernel<RawOp::avg_pool2d_backward>({&grad})(grad, input_shape, window);
}

namespace {

void check_batch_norm_input(const Tensor& x) {
  check_floating(x, "batch_norm");
  if (x.dim() != 4) throw std::invalid_argument("batch_norm: x must be [N, C, H, W], got " + shape_str(x.shape()));
}

// t [C], of x's dtype and device.
void check_channel_vector(const Tensor& t, const Tensor& x, const char* what) {
  if (!t.defined() || t.shape() != Shape{x.shape()[1]} || t.dtype() != x.dtype() || t.device() != x.device())
    throw std::invalid_argument(std::string("batch_norm: ") + what + " must be a " + device_name(x.device()) + " " +
                                dtype_name(x.dtype()) + " tensor of shape [" + std::to_string(x.shape()[1]) +
                                "] for x " + shape_str(x.shape()) + ", got " +
                                (t.defined() ? shape_str(t.shape()) + " " + dtype_name(t.dtype()) : "undefined"));
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  bool training, double momentum, double eps, BatchNormSaved& saved) {
  check_batch_norm_input(x);
  check_channel_vector(weight, x, "weight");
  check_channel_vector(bias, x, "bias");
  check_channel_vector(running_mean, x, "running_mean");
  check_channel_vector(running_var, x, "running_var");
  if (training && x.shape()[0] * x.shape()[2] * x.shape()[3] < 2)
    throw std::invalid_argument(
        "batch_norm: training needs more than one value per channel to estimate a variance, got x " +
        shape_str(x.shape()) + "; use eval mode or a larger batch");
  return kernel<RawOp::batch_norm>({&x, &weight, &bias, &running_mean, &running_var})(
      x, weight, bias, running_mean, running_var, training, momentum, eps, saved);
}

BatchNormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                   const BatchNormSaved& saved, bool need_x, bool need_weight, bool need_bias) {
  check_batch_norm_input(x);
  check_channel_vector(weight, x, "weight");
  check_channel_vector(saved.mean, x, "saved mean");
  check_channel_vector(saved.invstd, x, "saved invstd");
  check_same_shape(grad, x, "batch_norm_backward");
  return kernel<RawOp::batch_norm_backward>({&grad, &x, &weight})(grad, x, weight, saved, need_x, need_weight,
                                                                  need_bias);
}

}  // namespace clipgrad::ops
