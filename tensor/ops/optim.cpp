// The ops of tensor/ops/optim.h: their argument checks, then dispatch.
#include "tensor/ops/optim.h"

#include <stdexcept>

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

double sum_squares(const Tensor& x) { return kernel<RawOp::sum_squares>({&x})(x); }

double sum_squares_of(const std::vector<Tensor>& tensors) {
  if (tensors.empty()) return 0;
  return kernel<RawOp::sum_squares_of>(tensors)(tensors);
}

}  // namespace clipgrad::ops
