// AdamW's fused update (tensor/ops/optim.h); sum_squares is in sums.cu.
//
// One kernel per parameter: a thread per element, grid-stride, 256-thread
// blocks; reads param, grad and the two f32 moments once and writes three of
// them: memory-bound at 4 streams. The kernel table's entry takes one
// parameter, so this is the fused per-tensor kernel; a multi-tensor launch
// (one kernel for every parameter) needs an entry that takes the lists. The
// operation order is torch's (and the CPU kernel's), and without FMA
// contraction (CMakeLists.txt) with IEEE sqrt and division, each element's
// update is the CPU's bit for bit.
#include "tensor/cuda/device_tensor.h"
#include "tensor/cuda/kernels.h"

namespace clipgrad::cuda_kernels {

namespace {

// The coefficients rounded to the element type once, on the host (as the CPU kernel does).
template <class T>
struct AdamWScalars {
  T decay, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
};

// param, grad [n] of T; exp_avg, exp_avg_sq [n] f32, all updated in place
template <class T>
__global__ void adamw_kernel(T* param, const T* grad, float* exp_avg, float* exp_avg_sq, int64_t n, AdamWScalars<T> c) {
  CLIPGRAD_GRID_STRIDE(i, n) {
    const T g = grad[i];
    T m = T(exp_avg[i]);
    m = m + c.one_minus_beta1 * (g - m);
    T v = T(exp_avg_sq[i]) * c.beta2;
    v = v + c.one_minus_beta2 * g * g;
    const T denom = ::sqrt(v) / c.bias_correction2_sqrt + c.eps;
    const T p = param[i] * c.decay;
    param[i] = p + c.neg_step_size * m / denom;
    exp_avg[i] = float(m);
    exp_avg_sq[i] = float(v);
  }
}

void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const ops::AdamWCoefficients& coefficients) {
  dispatch_floating(param.dtype(), "adamw_update", [&]<class T>() {
    const int64_t n = param.numel();
    if (n == 0) return;
    const AdamWScalars<T> c{T(coefficients.decay),        T(coefficients.one_minus_beta1),
                            T(coefficients.beta2),        T(coefficients.one_minus_beta2),
                            T(-coefficients.step_size),   T(coefficients.bias_correction2_sqrt),
                            T(coefficients.eps)};
    adamw_kernel<T><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(
        device_data<T>(param), device_data<T>(grad), device_data<float>(exp_avg), device_data<float>(exp_avg_sq), n, c);
    CUDA_CHECK_LAUNCH("adamw_update");
  });
}

}  // namespace

void fill_optim_kernels(ops::Kernels& table) { table.adamw_update = &adamw_update; }

}  // namespace clipgrad::cuda_kernels
