// The CUDA kernels of the batch_norm family (tensor/ops/conv.h), the twin of
// tensor/cpu/batch_norm.cpp: 2-d batch norm, per-channel statistics over N, H and W in
// double, two passes (mean, then squared deviations), PyTorch's running
// statistics rule (r = (1 - momentum) r + momentum b, unbiased batch variance
// for running_var), and the same per-channel scale and shift rounded to T.
//
// One block per channel: its threads stride over the channel's N * H * W
// values and the block sums them in a fixed order (no atomics), so every run
// gives the same bits. With C >= 64 channels in CLIP's ResNets and the H200's
// 132 SMs that fills the machine from the second stage on.
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

constexpr int kChannelThreads = 512;  // threads of a channel's block

// ---- kernels ----

struct Layout {
  int64_t batch, channels, plane;  // plane = H * W
  __host__ __device__ int64_t count() const { return batch * plane; }
  // The flat offset of the i-th of channel c's values, i < count().
  __device__ int64_t offset(int64_t c, int64_t i) const { return ((i / plane) * channels + c) * plane + i % plane; }
};

// grid [C], block [kChannelThreads]. x [N, C, H, W]; weight, bias, running_mean, running_var [C];
// writes saved_mean, saved_invstd [C] and the affine map scale, shift [C] that y applies.
template <class T>
__global__ void channel_statistics_kernel(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var,
                                          Layout layout, bool training, double momentum, double eps, T* saved_mean,
                                          T* saved_invstd, T* scale, T* shift) {
  const int64_t c = blockIdx.x;
  const double count = double(layout.count());
  double mean, var;
  if (training) {
    double total = 0;
    for (int64_t i = threadIdx.x; i < layout.count(); i += kChannelThreads) total += double(x[layout.offset(c, i)]);
    mean = block_sum<kChannelThreads>(total) / count;
    double squares = 0;
    for (int64_t i = threadIdx.x; i < layout.count(); i += kChannelThreads) {
      const double deviation = double(x[layout.offset(c, i)]) - mean;
      squares += deviation * deviation;
    }
    var = block_sum<kChannelThreads>(squares) / count;
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

// grid [C], block [kChannelThreads]: sum(dy) and sum(dy * xhat) of channel c, then
// the gradients of weight and bias and the three coefficients of dx (double [C] each).
template <class T>
__global__ void backward_sums_kernel(const T* dy, const T* x, const T* weight, const T* saved_mean,
                                     const T* saved_invstd, Layout layout, bool training, T* grad_weight, T* grad_bias,
                                     double* dx_scale, double* dx_mean_dy, double* dx_mean_dy_xhat) {
  const int64_t c = blockIdx.x;
  const double mean = saved_mean[c], invstd = saved_invstd[c];
  double sum_dy = 0, sum_dy_xhat = 0;
  for (int64_t i = threadIdx.x; i < layout.count(); i += kChannelThreads) {
    const int64_t offset = layout.offset(c, i);
    sum_dy += double(dy[offset]);
    sum_dy_xhat += dy[offset] * (x[offset] - mean) * invstd;  // in double, as the CPU twin
  }
  sum_dy = block_sum<kChannelThreads>(sum_dy);
  sum_dy_xhat = block_sum<kChannelThreads>(sum_dy_xhat);
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

unsigned element_blocks(int64_t elements) { return unsigned((elements + kThreads - 1) / kThreads); }

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
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    launch("channel_statistics_kernel", channel_statistics_kernel<T>, {unsigned(l.channels), kChannelThreads},
           device_data<T>(x), device_data<T>(weight), device_data<T>(bias), device_data<T>(running_mean),
           device_data<T>(running_var), l, training, momentum, eps, device_data<T>(saved.mean),
           device_data<T>(saved.invstd), device_data<T>(scale), device_data<T>(shift));
    if (x.numel() == 0) return;
    launch("affine_kernel", affine_kernel<T>, {element_blocks(x.numel()), kThreads}, device_data<T>(x),
           device_data<T>(scale), device_data<T>(shift), l, device_data<T>(y));
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
  double* dx_scale = device_data<double>(coefficients);
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    launch("backward_sums_kernel", backward_sums_kernel<T>, {unsigned(l.channels), kChannelThreads},
           device_data<T>(grad), device_data<T>(x), device_data<T>(weight), device_data<T>(saved.mean),
           device_data<T>(saved.invstd), l, saved.training, need_weight ? device_data<T>(grads.weight) : nullptr,
           need_bias ? device_data<T>(grads.bias) : nullptr, dx_scale, dx_scale + l.channels,
           dx_scale + 2 * l.channels);
    if (!need_x || x.numel() == 0) return;
    launch("backward_dx_kernel", backward_dx_kernel<T>, {element_blocks(x.numel()), kThreads}, device_data<T>(grad),
           device_data<T>(x), device_data<T>(saved.mean), device_data<T>(saved.invstd), dx_scale, dx_scale + l.channels,
           dx_scale + 2 * l.channels, l, device_data<T>(grads.x));
  });
  return grads;
}

}  // namespace clipgrad::cuda
