// The CPU kernels of the optim family (tensor/ops/optim.h): AdamW's fused
// update (one parameter, or a list) and the deterministic sum of squares and
// coefficient behind gradient clipping. The CUDA twin is tensor/cuda/optim.cu.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

// The coefficients rounded to the element type once (where torch hands them
// to its kernels), and the gradient's scale when there is one.
template <class T>
struct AdamWScalars {
  T decay, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
  bool scaled = false;
  T grad_scale = T(1);
};

template <class T>
AdamWScalars<T> adamw_scalars(const ops::AdamWCoefficients& c, const Tensor& grad_scale) {
  AdamWScalars<T> s{T(c.decay),      T(c.one_minus_beta1),       T(c.beta2), T(c.one_minus_beta2),
                    T(-c.step_size), T(c.bias_correction2_sqrt), T(c.eps)};
  if (grad_scale.defined()) {
    s.scaled = true;
    s.grad_scale = T(grad_scale.data<double>()[0]);  // ops::scale's rounding of its factor
  }
  return s;
}

// param, grad [n] of type T; exp_avg, exp_avg_sq [n] f32. The operation order
// follows torch's single-tensor AdamW (mul_, lerp_, mul_ + addcmul_, sqrt /
// div / add_, addcdiv_) so that f32 results agree to rounding.
template <class T>
void adamw_update_kernel(T* param, const T* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                         const AdamWScalars<T>& c) {
#pragma omp parallel for if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) {
    T g = c.scaled ? grad[i] * c.grad_scale : grad[i];
    T m = T(exp_avg[i]);
    m = m + c.one_minus_beta1 * (g - m);
    T v = T(exp_avg_sq[i]) * c.beta2;
    v = v + c.one_minus_beta2 * g * g;
    T denom = std::sqrt(v) / c.bias_correction2_sqrt + c.eps;
    T p = param[i] * c.decay;
    param[i] = p + c.neg_step_size * m / denom;
    exp_avg[i] = float(m);
    exp_avg_sq[i] = float(v);
  }
}

template <class T>
void adamw_update_entry(Tensor param, const Tensor& grad, Tensor exp_avg, Tensor exp_avg_sq,
                        const AdamWScalars<T>& scalars) {
  adamw_update_kernel<T>(param.data<T>(), grad.data<T>(), exp_avg.data<float>(), exp_avg_sq.data<float>(),
                         param.numel(), scalars);
}

}  // namespace

void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const ops::AdamWCoefficients& coefficients) {
  dispatch_floating(param.dtype(), "adamw_update", [&]<class T>() {
    adamw_update_entry<T>(param, grad, exp_avg, exp_avg_sq, adamw_scalars<T>(coefficients, Tensor()));
  });
}

// The entries one after another, each as adamw_update (on the CPU a pass per
// entry costs nothing a single pass would save).
void multi_tensor_adamw(const std::vector<ops::AdamWParam>& params, const Tensor& grad_scale) {
  dispatch_floating(params[0].param.dtype(), "multi_tensor_adamw", [&]<class T>() {
    for (const ops::AdamWParam& entry : params)
      adamw_update_entry<T>(entry.param, entry.grad, entry.exp_avg, entry.exp_avg_sq,
                            adamw_scalars<T>(entry.coefficients, grad_scale));
  });
}

// Fixed chunks summed in parallel, then the chunk sums in chunk order: the
// bits do not depend on the thread count (an OpenMP reduction's would).
double sum_squares(const Tensor& x) {
  constexpr int64_t kChunk = 1 << 14;
  return dispatch_floating(x.dtype(), "sum_squares", [&]<class T>() {
    const T* values = x.data<T>();
    const int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static) if (n > kParallelElements)
    for (int64_t c = 0; c < chunks; ++c) {
      double sum = 0;
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) sum += double(values[i]) * double(values[i]);
      partial[c] = sum;
    }
    double total = 0;
    for (double chunk : partial) total += chunk;
    return total;
  });
}

Tensor sum_squares_of(const std::vector<Tensor>& tensors) {
  double total = 0;
  for (const Tensor& x : tensors) total += sum_squares(x);
  return Tensor::scalar(total, DType::F64);
}

Tensor clip_coefficient(const Tensor& total_squares, double max_norm) {
  const double total_norm = std::sqrt(total_squares.data<double>()[0]);
  const double coefficient = max_norm / (total_norm + 1e-6);
  return Tensor::scalar(std::isfinite(total_norm) && coefficient < 1.0 ? coefficient : 1.0, DType::F64);
}

}  // namespace clipgrad::cpu
