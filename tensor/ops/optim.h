// The optimizer's raw ops: AdamW's fused update and the deterministic sum of
// squares behind gradient-norm clipping.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::ops {

// The scalars of one parameter's AdamW update, formed in double as torch does
// in Python and rounded to the element type once, where torch hands them to
// its kernels.
struct AdamWCoefficients {
  double decay;  // 1 - lr * weight_decay
  double one_minus_beta1;
  double beta2;
  double one_minus_beta2;
  double step_size;  // lr / (1 - beta1^t)
  double bias_correction2_sqrt;
  double eps;
};

// In place, with torch's single-tensor AdamW operation order:
//   m = m + (1 - b1)(g - m); v = b2 v + (1 - b2) g^2;
//   p = p * decay - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
// param, grad [n] of one floating dtype; exp_avg, exp_avg_sq [n] f32.
void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const AdamWCoefficients& coefficients);

// sum(x^2) in double, in an order that does not depend on the thread count.
double sum_squares(const Tensor& x);
// The sum of sum_squares(x) over `tensors` (all on one device), added in list
// order: gradient-norm clipping's total with one host read, not one per tensor.
// 0 for an empty list.
double sum_squares_of(const std::vector<Tensor>& tensors);

}  // namespace clipgrad::ops
