// The CPU kernels of the batch_norm family (tensor/ops/conv.h): 2-d batch
// norm with PyTorch's running-statistics rule, per-channel statistics over N,
// H and W accumulated in double so that f32 batches of many pixels keep
// their precision. The CUDA twin is tensor/cuda/batch_norm.cu.
#include <cmath>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

struct Layout {
  int64_t batch, channels, plane;                  // plane = H * W
  int64_t count() const { return batch * plane; }  // values per channel
};

// x [N, C, H, W], checked by tensor/ops.
Layout layout_of(const Tensor& x) { return {x.shape()[0], x.shape()[1], x.shape()[2] * x.shape()[3]}; }

// Sums f(offset) over the flat offsets of the N * H * W values of channel c.
template <class F>
double channel_sum(const Layout& l, int64_t c, F f) {
  double total = 0;
  for (int64_t n = 0; n < l.batch; ++n) {
    const int64_t first = (n * l.channels + c) * l.plane;
    for (int64_t i = first; i < first + l.plane; ++i) total += f(i);
  }
  return total;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  bool training, double momentum, double eps, BatchNormSaved& saved) {
  const Layout l = layout_of(x);
  saved.mean = Tensor::empty({l.channels}, x.dtype());
  saved.invstd = Tensor::empty({l.channels}, x.dtype());
  saved.training = training;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    const T* in = x.data<T>();
    const T* w = weight.data<T>();
    const T* b = bias.data<T>();
    T* rm = running_mean.data<T>();
    T* rv = running_var.data<T>();
    T* mean_out = saved.mean.data<T>();
    T* invstd_out = saved.invstd.data<T>();
    T* out = y.data<T>();
    const double count = static_cast<double>(l.count());
#pragma omp parallel for if (x.numel() > kParallelElements)
    for (int64_t c = 0; c < l.channels; ++c) {
      double mean, var;
      if (training) {
        mean = channel_sum(l, c, [&](int64_t i) { return double(in[i]); }) / count;
        var = channel_sum(l, c, [&](int64_t i) { return (in[i] - mean) * (in[i] - mean); }) / count;
        rm[c] = T((1 - momentum) * rm[c] + momentum * mean);
        rv[c] = T((1 - momentum) * rv[c] + momentum * var * count / (count - 1));
      } else {
        mean = rm[c];
        var = rv[c];
      }
      const double invstd = 1 / std::sqrt(var + eps);
      mean_out[c] = T(mean);
      invstd_out[c] = T(invstd);
      const T scale = T(invstd * w[c]), shift = T(b[c] - mean * invstd * w[c]);
      for (int64_t n = 0; n < l.batch; ++n) {
        const int64_t offset = (n * l.channels + c) * l.plane;
        for (int64_t i = 0; i < l.plane; ++i) out[offset + i] = in[offset + i] * scale + shift;
      }
    }
  });
  return y;
}

BatchNormGrads batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                   const BatchNormSaved& saved, bool need_x, bool need_weight, bool need_bias) {
  const Layout l = layout_of(x);
  BatchNormGrads grads;
  if (need_x) grads.x = Tensor::empty(x.shape(), x.dtype());
  if (need_weight) grads.weight = Tensor::empty({l.channels}, x.dtype());
  if (need_bias) grads.bias = Tensor::empty({l.channels}, x.dtype());
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    const T* in = x.data<T>();
    const T* dy = grad.data<T>();
    const T* w = weight.data<T>();
    const T* mean_in = saved.mean.data<T>();
    const T* invstd_in = saved.invstd.data<T>();
    T* dx = need_x ? grads.x.data<T>() : nullptr;
    T* dw = need_weight ? grads.weight.data<T>() : nullptr;
    T* db = need_bias ? grads.bias.data<T>() : nullptr;
    const double count = static_cast<double>(l.count());
#pragma omp parallel for if (x.numel() > kParallelElements)
    for (int64_t c = 0; c < l.channels; ++c) {
      const double mean = mean_in[c], invstd = invstd_in[c];
      const double sum_dy = channel_sum(l, c, [&](int64_t i) { return double(dy[i]); });
      const double sum_dy_xhat = channel_sum(l, c, [&](int64_t i) { return dy[i] * (in[i] - mean) * invstd; });
      if (dw) dw[c] = T(sum_dy_xhat);
      if (db) db[c] = T(sum_dy);
      if (!dx) continue;
      // Training: y depends on x also through the batch mean and variance,
      // which removes the mean of dy and its projection on xhat.
      // Eval: the statistics are constants and y is a per-channel affine map.
      const double k = w[c] * invstd;
      const double mean_dy = saved.training ? sum_dy / count : 0;
      const double mean_dy_xhat = saved.training ? sum_dy_xhat / count : 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        const int64_t offset = (n * l.channels + c) * l.plane;
        for (int64_t i = 0; i < l.plane; ++i) {
          const double xhat = (in[offset + i] - mean) * invstd;
          dx[offset + i] = T(k * (dy[offset + i] - mean_dy - xhat * mean_dy_xhat));
        }
      }
    }
  });
  return grads;
}

}  // namespace clipgrad::cpu
