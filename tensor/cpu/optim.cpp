// The CPU kernels of the optim family (tensor/ops/optim.h): AdamW's fused
// update and the deterministic sum of squares behind gradient clipping. The
// CUDA twin is tensor/cuda/optim.cu.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

// param, grad [n] of type T; exp_avg, exp_avg_sq [n] f32. The operation order
// follows torch's single-tensor AdamW (mul_, lerp_, mul_ + addcmul_, sqrt /
// div / add_, addcdiv_) so that f32 results agree to rounding.
template <class T>
void adamw_update_kernel(T* param, const T* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                         const ops::AdamWCoefficients& c) {
  const T decay = T(c.decay), one_minus_beta1 = T(c.one_minus_beta1), beta2 = T(c.beta2),
          one_minus_beta2 = T(c.one_minus_beta2), neg_step_size = T(-c.step_size),
          bias_correction2_sqrt = T(c.bias_correction2_sqrt), eps = T(c.eps);
#pragma omp parallel for if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    T m = T(exp_avg[i]);
    m = m + one_minus_beta1 * (g - m);
    T v = T(exp_avg_sq[i]) * beta2;
    v = v + one_minus_beta2 * g * g;
    T denom = std::sqrt(v) / bias_correction2_sqrt + eps;
    T p = param[i] * decay;
    param[i] = p + neg_step_size * m / denom;
    exp_avg[i] = float(m);
    exp_avg_sq[i] = float(v);
  }
}

}  // namespace

void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const ops::AdamWCoefficients& coefficients) {
  dispatch_floating(param.dtype(), "adamw_update", [&]<class T>() {
    adamw_update_kernel<T>(param.data<T>(), grad.data<T>(), exp_avg.data<float>(), exp_avg_sq.data<float>(),
                           param.numel(), coefficients);
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

double sum_squares_of(const std::vector<Tensor>& tensors) {
  double total = 0;
  for (const Tensor& x : tensors) total += sum_squares(x);
  return total;
}

}  // namespace clipgrad::cpu
