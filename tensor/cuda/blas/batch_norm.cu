// 2-d batch norm on CUDA (ops::batch_norm, tensor/ops/conv.h), the twin of
// tensor/cpu/batch_norm.cpp: per-channel statistics over N, H and W in
// double, two passes (mean, then squared deviations), PyTorch's running
// statistics rule (r = (1 - momentum) r + momentum b, unbiased batch variance
// for running_var), and the same per-channel scale and shift rounded to T.
//
// One block per channel: its threads stride over the channel's N * H * W
// values and the block sums them in a fixed order (no atomics), so every run
// gives the same bits. With C >= 64 channels in CLIP's ResNets and the H200's
// 132 SMs that fills the machine from the second stage on.
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/stream.h"
#include "tensor/cuda/blas/batch_norm.h"

namespace clipgrad::cuda_blas {

namespace {

constexpr int kThreads = 512;

struct Layout {
  int64_t batch, channels, plane;  // plane = H * W
  __host__ __device__ int64_t count() const { return batch * plane; }
  // The flat offset of the i-th of channel c's values, i < count().
  __device__ int64_t offset(int64_t c, int64_t i) const { return ((i / plane) * channels + c) * plane + i % plane; }
};

// ---- kernels ----

// The block's sum of each thread's `value`, in a fixed order; valid in thread 0.
__device__ double block_sum(double value, double* shared /* [kThreads / 32] */) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffff, value, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  value = threadIdx.x < kThreads / 32 ? shared[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffff, value, offset);
  __syncthreads();  // shared is reused by the next sum
  return value;
}

// grid [C], block [kThreads]. x [N, C, H, W]; weight, bias, running_mean, running_var [C];
// writes saved_mean, saved_invstd [C] and the affine map scale, shift [C] that y applies.
template <class T>
__global__ void channel_statistics_kernel(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var,
                                          Layout layout, bool training, double momentum, double eps, T* saved_mean,
                                          T* saved_invstd, T* scale, T* shift) {
  __shared__ double partial[kThreads / 32];
  __shared__ double broadcast_mean;
  const int64_t c = blockIdx.x;
  const double count = double(layout.count());
  double mean, var;
  if (training) {
    double total = 0;
    for (int64_t i = threadIdx.x; i < layout.count(); i += kThreads) total += double(x[layout.offset(c, i)]);
    total = block_sum(total, partial);
    if (threadIdx.x == 0) broadcast_mean = total / count;
    __syncthreads();
    mean = broadcast_mean;
    double squares = 0;
    for (int64_t i = threadIdx.x; i < layout.count(); i += kThreads) {
      const double deviation = double(x[layout.offset(c, i)]) - mean;
      squares += deviation * deviation;
    }
    var = block_sum(squares, partial) / count;
  } else {
    mean = running_mean[c];
    var = running_var[c];
  }
  if (threadIdx.x != 0) return;
  if (training) {
    running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * mean);
    running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * var * count / (count - 1));
  }
  const double invstd = 1 / sqrt(var + eps);
  saved_mean[c] = T(mean);
  saved_invstd[c] = T(invstd);
  scale[c] = T(invstd * double(weight[c]));
  shift[c] = T(double(bias[c]) - mean * invstd * double(weight[c]));
}

// One thread per element of x [N, C, H, W]: y = x * scale[c] + shift[c].
template <class T>
__global__ void affine_kernel(const T* x, const T* scale, const T* shift, Layout layout, T* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= layout.batch * layout.channels * layout.plane) return;
  const int64_t c = (i / layout.plane) % layout.channels;
  y[i] = x[i] * scale[c] + shift[c];
}

// grid [C], block [kThreads]: sum(dy) and sum(dy * xhat) of channel c, then
// the gradients of weight and bias and the three coefficients of dx (double [C] each).
template <class T>
__global__ void backward_sums_kernel(const T* dy, const T* x, const T* weight, const T* saved_mean,
                                     const T* saved_invstd, Layout layout, bool training, T* grad_weight, T* grad_bias,
                                     double* dx_scale, double* dx_mean_dy, double* dx_mean_dy_xhat) {
  __shared__ double partial[kThreads / 32];
  const int64_t c = blockIdx.x;
  const double mean = saved_mean[c], invstd = saved_invstd[c];
  double sum_dy = 0, sum_dy_xhat = 0;
  for (int64_t i = threadIdx.x; i < layout.count(); i += kThreads) {
    const int64_t offset = layout.offset(c, i);
    sum_dy += double(dy[offset]);
    sum_dy_xhat += dy[offset] * (x[offset] - mean) * invstd;  // in double, as the CPU twin
  }
  sum_dy = block_sum(sum_dy, partial);
  sum_dy_xhat = block_sum(sum_dy_xhat, partial);
  if (threadIdx.x != 0) return;
  if (grad_weight) grad_weight[c] = T(sum_dy_xhat);
  if (grad_bias) grad_bias[c] = T(sum_dy);
  const double count = double(layout.count());
  dx_scale[c] = double(weight[c]) * invstd;
  // Training: the batch statistics carry gradient too; eval: y is a per-channel affine map of x.
  dx_mean_dy[c] = training ? sum_dy / count : 0;
  dx_mean_dy_xhat[c] = training ? sum_dy_xhat / count : 0;
}

// One thread per element: dx = k (dy - mean(dy) - xhat mean(dy xhat)).
template <class T>
__global__ void backward_dx_kernel(const T* dy, const T* x, const T* saved_mean, const T* saved_invstd,
                                   const double* dx_scale, const double* dx_mean_dy, const double* dx_mean_dy_xhat,
                                   Layout layout, T* dx) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= layout.batch * layout.channels * layout.plane) return;
  const int64_t c = (i / layout.plane) % layout.channels;
  const double xhat = (double(x[i]) - double(saved_mean[c])) * double(saved_invstd[c]);
  dx[i] = T(dx_scale[c] * (double(dy[i]) - dx_mean_dy[c] - xhat * dx_mean_dy_xhat[c]));
}

// ---- launchers ----

constexpr int kElementThreads = 256;
unsigned element_blocks(int64_t elements) { return unsigned((elements + kElementThreads - 1) / kElementThreads); }

// x [N, C, H, W], checked by tensor/ops.
Layout layout_of(const Tensor& x) { return {x.shape()[0], x.shape()[1], x.shape()[2] * x.shape()[3]}; }

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  bool training, double momentum, double eps, ops::BatchNormSaved& saved) {
  const Layout l = layout_of(x);
  saved.mean = Tensor::empty({l.channels}, x.dtype(), Device::CUDA);
  saved.invstd = Tensor::empty({l.channels}, x.dtype(), Device::CUDA);
  saved.training = training;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  if (l.channels == 0) return y;
  Tensor scale = Tensor::empty({l.channels}, x.dtype(), Device::CUDA);  // [C]
  Tensor shift = Tensor::empty({l.channels}, x.dtype(), Device::CUDA);  // [C]
  cudaStream_t stream = cuda::compute_stream();
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    channel_statistics_kernel<T><<<unsigned(l.channels), kThreads, 0, stream>>>(
        x.data<T>(), weight.data<T>(), bias.data<T>(), running_mean.data<T>(), running_var.data<T>(), l, training,
        momentum, eps, saved.mean.data<T>(), saved.invstd.data<T>(), scale.data<T>(), shift.data<T>());
    CUDA_CHECK(cudaGetLastError());
    if (x.numel() == 0) return;
    affine_kernel<T><<<element_blocks(x.numel()), kElementThreads, 0, stream>>>(x.data<T>(), scale.data<T>(),
                                                                                 shift.data<T>(), l, y.data<T>());
    CUDA_CHECK(cudaGetLastError());
  });
  return y;
}

ops::BatchNormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                        const ops::BatchNormSaved& saved, bool need_x, bool need_weight,
                                        bool need_bias) {
  const Layout l = layout_of(x);
  ops::BatchNormGrads grads;
  if (need_x) grads.x = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  if (need_weight) grads.weight = Tensor::empty({l.channels}, x.dtype(), Device::CUDA);
  if (need_bias) grads.bias = Tensor::empty({l.channels}, x.dtype(), Device::CUDA);
  if (l.channels == 0) return grads;
  Tensor coefficients = Tensor::empty({3, l.channels}, DType::F64, Device::CUDA);  // dx's scale, mean_dy, mean_dy_xhat
  double* dx_scale = coefficients.data<double>();
  cudaStream_t stream = cuda::compute_stream();
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    backward_sums_kernel<T><<<unsigned(l.channels), kThreads, 0, stream>>>(
        grad.data<T>(), x.data<T>(), weight.data<T>(), saved.mean.data<T>(), saved.invstd.data<T>(), l,
        saved.training, need_weight ? grads.weight.data<T>() : nullptr, need_bias ? grads.bias.data<T>() : nullptr,
        dx_scale, dx_scale + l.channels, dx_scale + 2 * l.channels);
    CUDA_CHECK(cudaGetLastError());
    if (!need_x || x.numel() == 0) return;
    backward_dx_kernel<T><<<element_blocks(x.numel()), kElementThreads, 0, stream>>>(
        grad.data<T>(), x.data<T>(), saved.mean.data<T>(), saved.invstd.data<T>(), dx_scale, dx_scale + l.channels,
        dx_scale + 2 * l.channels, l, grads.x.data<T>());
    CUDA_CHECK(cudaGetLastError());
  });
  return grads;
}

}  // namespace clipgrad::cuda_blas
