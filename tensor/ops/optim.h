// The optimizer's raw ops: AdamW's fused update (one parameter, or all of
// them in one pass), and the deterministic sum of squares and the coefficient
// behind gradient-norm clipping, which stay on the device.
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

// One parameter's share of a multi-tensor AdamW step: adamw_update's tensors
// (handles: the step writes through them, in place) and its coefficients.
struct AdamWParam {
  Tensor param, grad, exp_avg, exp_avg_sq;  // param, grad [n] of one floating dtype; moments [n] f32
  AdamWCoefficients coefficients;
};

// adamw_update of every entry, in one pass over them all: each element gets
// the bits one adamw_update per entry would give it. On CUDA, one launch for
// up to kAdamWParamsPerLaunch entries (a table of pointers, sizes and
// coefficients passed by value), so a model's whole step is one or a few
// launches, not one per parameter. Every param and grad of one floating
// dtype, all tensors on one device; an entry's tensors may not overlap
// another's.
// grad_scale: undefined, or f64 [] on that device, read there: every gradient
// element is multiplied by it, rounded to the element type, before the
// update, exactly as if each gradient had been replaced by
// ops::scale(grad, grad_scale) first (gradient clipping's coefficient without
// a host read). The gradients themselves are not changed.
constexpr int kAdamWParamsPerLaunch = 128;
void multi_tensor_adamw(const std::vector<AdamWParam>& params, const Tensor& grad_scale);

// sum(x^2) in double, in an order that does not depend on the thread count.
double sum_squares(const Tensor& x);
// The sum of sum_squares(x) over `tensors` (all on one device), added in list
// order, left on that device: f64 [], gradient-norm clipping's squared total
// with no host read. Throws for an empty list (it has no device).
Tensor sum_squares_of(const std::vector<Tensor>& tensors);

// Gradient clipping's coefficient, computed where total_squares (f64 [], the
// squared 2-norm of all gradients, from sum_squares_of) lives, with no host
// read: f64 [] = max_norm / (sqrt(total_squares) + 1e-6) when the norm is
// finite and that is below 1, else 1 (torch's clip_grad_norm_ in double).
// max_norm > 0.
Tensor clip_coefficient(const Tensor& total_squares, double max_norm);

}  // namespace clipgrad::ops
