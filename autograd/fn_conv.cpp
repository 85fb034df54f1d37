// Convolutional ops: conv2d, avg_pool2d, batch_norm. Forward and backward side by side.
#include <stdexcept>

#include "autograd/functional.h"
#include "tensor/precision.h"
#include "tensor/ops/conv.h"

namespace clipgrad::fn {

// x [N, C, H, W], weight [O, C, kh, kw], bias [O] or undefined -> [N, O, H', W']
namespace {

Variable conv2d_exact(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride,
                      int64_t padding) {
  const Tensor& x_value = x.value();
  const Tensor& weight_value = weight.value();
  Tensor out = ops::conv2d(x_value, weight_value, bias.defined() ? bias.value() : Tensor(), stride, padding);
  std::vector<Variable> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return make_result(
      out, std::move(inputs), [x_value, weight_value, stride, padding](const Tensor& grad, std::vector<Variable>& in) {
        const bool need_bias = in.size() > 2 && in[2].requires_grad();
        ops::Conv2dGrads grads = ops::conv2d_backward(grad, x_value, weight_value, stride, padding,
                                                      in[0].requires_grad(), in[1].requires_grad(), need_bias);
        if (grads.x.defined()) in[0].add_grad(grads.x);
        if (grads.weight.defined()) in[1].add_grad(grads.weight);
        if (grads.bias.defined()) in[2].add_grad(grads.bias);
      });
}

}  // namespace

// Under bf16 autocast (tensor/precision.h) the operands, the output and the
// gradients are rounded to bf16 values and the convolution sums in f32
// between: the numbers of a bf16 convolution with f32 accumulation (cuDNN's
// and torch.autocast's), computed by the f32 kernels (not yet faster).
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, int64_t stride, int64_t padding) {
  if (!autocast_bf16_enabled() || x.value().dtype() != DType::F32)
    return conv2d_exact(x, weight, bias, stride, padding);
  const Variable rounded_bias = bias.defined() ? round_bf16(bias) : bias;
  return round_bf16(conv2d_exact(round_bf16(x), round_bf16(weight), rounded_bias, stride, padding));
}

// x [N, C, H, W] -> [N, C, H / kernel, W / kernel]
Variable avg_pool2d(const Variable& x, int64_t kernel) {
  const Shape input_shape = x.shape();
  return make_result(ops::avg_pool2d(x.value(), kernel), {x},
                     [input_shape, kernel](const Tensor& grad, std::vector<Variable>& in) {
                       in[0].add_grad(ops::avg_pool2d_backward(grad, input_shape, kernel));
                     });
}

// x [N, C, H, W], weight, bias [C]; running_mean, running_var [C] (updated in training)
Variable batch_norm(const Variable& x, const Variable& weight, const Variable& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  if (!weight.defined() || !bias.defined())
    throw std::invalid_argument(
        "batch_norm: weight and bias [C] are required (an affine batch norm, as CLIP uses); "
        "pass ones and zeros for a plain normalisation");
  ops::BatchNormSaved saved;
  Tensor out = ops::batch_norm(x.value(), weight.value(), bias.value(), running_mean, running_var, training, momentum,
                               eps, saved);
  return make_result(
      out, {x, weight, bias},
      [x_value = x.value(), weight_value = weight.value(), saved](const Tensor& grad, std::vector<Variable>& in) {
        ops::BatchNormGrads grads = ops::batch_norm_backward(grad, x_value, weight_value, saved, in[0].requires_grad(),
                                                             in[1].requires_grad(), in[2].requires_grad());
        if (grads.x.defined()) in[0].add_grad(grads.x);
        if (grads.weight.defined()) in[1].add_grad(grads.weight);
        if (grads.bias.defined()) in[2].add_grad(grads.bias);
      });
}

}  // namespace clipgrad::fn
