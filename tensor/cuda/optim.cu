// The CUDA kernels of the optim family (tensor/ops/optim.h), the twin of
// tensor/cpu/optim.cpp: AdamW's fused update, and the sum of squares behind
// gradient clipping (fixed chunks, fixed_order_sums.cu).
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

namespace clipgrad::cuda {

namespace {

constexpr int64_t kSumSquaresChunk = 1 << 14;  // tensor/cpu/optim.cpp's sum_squares chunk

// The coefficients rounded to the element type once, on the host (as the CPU kernel does).
template <class T>
struct AdamWScalars {
  T decay, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
};

// ---- kernels ----

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

// ---- launchers ----

// sum_squares of x into *total (device f64), queued, no host read.
void sum_squares_into(const Tensor& x, double* total) { ordered_total(chunk_sums(x, kSumSquaresChunk, true), total); }

}  // namespace

void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const ops::AdamWCoefficients& coefficients) {
  dispatch_floating(param.dtype(), "adamw_update", [&]<class T>() {
    const int64_t n = param.numel();
    if (n == 0) return;
    const AdamWScalars<T> c{T(coefficients.decay),      T(coefficients.one_minus_beta1),
                            T(coefficients.beta2),      T(coefficients.one_minus_beta2),
                            T(-coefficients.step_size), T(coefficients.bias_correction2_sqrt),
                            T(coefficients.eps)};
    launch("adamw_kernel", adamw_kernel<T>, {grid_for(n), kThreads}, device_data<T>(param), device_data<T>(grad),
           device_data<float>(exp_avg), device_data<float>(exp_avg_sq), n, c);
  });
}

double sum_squares(const Tensor& x) {
  check_floating(x, "sum_squares");
  Tensor total = Tensor::empty({}, DType::F64, Device::CUDA);
  sum_squares_into(x, device_data<double>(total));
  return total.item();
}

// Each tensor's total into one device array, then those added in list order:
// the CPU's sum of per-tensor sums, with one host read.
double sum_squares_of(const std::vector<Tensor>& tensors) {
  const int64_t count = static_cast<int64_t>(tensors.size());
  Tensor totals = Tensor::empty({count}, DType::F64, Device::CUDA);
  for (int64_t i = 0; i < count; ++i) {
    check_floating(tensors[i], "sum_squares");
    sum_squares_into(tensors[i], device_data<double>(totals) + i);
  }
  Tensor total = Tensor::empty({}, DType::F64, Device::CUDA);
  ordered_total(totals, device_data<double>(total));
  return total.item();
}

}  // namespace clipgrad::cuda
