// The ops of tensor/ops/optim.h: their argument checks, then dispatch.
#include "tensor/ops/optim.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const AdamWCoefficients& coefficients) {
  const Shape& shape = param.shape();
  if (grad.shape() != shape || exp_avg.shape() != shape || exp_avg_sq.shape() != shape ||
      grad.dtype() != param.dtype() || exp_avg.dtype() != DType::F32 || exp_avg_sq.dtype() != DType::F32)
    throw std::invalid_argument("adamw_update: parameter " + shape_str(shape) + " " + dtype_name(param.dtype()) +
                                ", gradient " + shape_str(grad.shape()) + " " + dtype_name(grad.dtype()) +
                                " and f32 moments of the parameter's shape expected");
  kernel<RawOp::adamw_update>({&param, &grad, &exp_avg, &exp_avg_sq})(param, grad, exp_avg, exp_avg_sq, coefficients);
}

namespace {

void check_adamw_param(const AdamWParam& entry, DType dtype, size_t index) {
  const Shape& shape = entry.param.shape();
  if (entry.param.dtype() != dtype || entry.grad.dtype() != dtype || entry.grad.shape() != shape ||
      entry.exp_avg.shape() != shape || entry.exp_avg_sq.shape() != shape || entry.exp_avg.dtype() != DType::F32 ||
      entry.exp_avg_sq.dtype() != DType::F32)
    throw std::invalid_argument("multi_tensor_adamw: entry " + std::to_string(index) + " has parameter " +
                                shape_str(shape) + " " + dtype_name(entry.param.dtype()) + ", gradient " +
                                shape_str(entry.grad.shape()) + " " + dtype_name(entry.grad.dtype()) +
                                "; every entry needs a parameter and gradient of the first entry's dtype (" +
                                dtype_name(dtype) + ") and shape, and f32 moments of that shape");
}

}  // namespace

void multi_tensor_adamw(const std::vector<AdamWParam>& params, const Tensor& grad_scale) {
  if (params.empty()) return;
  const DType dtype = params[0].param.dtype();
  check_floating(params[0].param, "multi_tensor_adamw");
  std::vector<Tensor> operands;
  for (size_t i = 0; i < params.size(); ++i) {
    check_adamw_param(params[i], dtype, i);
    for (const Tensor* tensor : {&params[i].param, &params[i].grad, &params[i].exp_avg, &params[i].exp_avg_sq})
      operands.push_back(*tensor);
  }
  if (grad_scale.defined()) {
    if (grad_scale.dtype() != DType::F64 || grad_scale.dim() != 0)
      throw std::invalid_argument(std::string("multi_tensor_adamw: grad_scale must be f64 [], got ") +
                                  dtype_name(grad_scale.dtype()) + " " + shape_str(grad_scale.shape()));
    operands.push_back(grad_scale);
  }
  kernel<RawOp::multi_tensor_adamw>(operands)(params, grad_scale);
}

double sum_squares(const Tensor& x) { return kernel<RawOp::sum_squares>({&x})(x); }

Tensor sum_squares_of(const std::vector<Tensor>& tensors) {
  if (tensors.empty()) throw std::invalid_argument("sum_squares_of: an empty list has no device to leave its total on");
  for (const Tensor& x : tensors) check_floating(x, "sum_squares_of");
  return kernel<RawOp::sum_squares_of>(tensors)(tensors);
}

Tensor clip_coefficient(const Tensor& total_squares, double max_norm) {
  if (total_squares.dtype() != DType::F64 || total_squares.dim() != 0 || !(max_norm > 0))
    throw std::invalid_argument(
        std::string("clip_coefficient: need the squared norm as f64 [] and max_norm > 0, got ") +
        dtype_name(total_squares.dtype()) + " " + shape_str(total_squares.shape()) + " and max_norm " +
        std::to_string(max_norm));
  return kernel<RawOp::clip_coefficient>({&total_squares})(total_squares, max_norm);
}

}  // namespace clipgrad::ops
