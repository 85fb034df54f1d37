// The CPU kernels of the norms family (declared in tensor/ops/reduce.h):
// layer_norm over the last dim, l2_normalize along any dim, and their
// backwards. Statistics are accumulated in double. The CUDA twin is
// tensor/cuda/norms.cu.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

using ops::Lines;
using ops::lines_along;

LayerNormOutput layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t features = x.size(-1), rows = features == 0 ? 0 : x.numel() / features;
  LayerNormOutput result{Tensor::empty(x.shape(), x.dtype()), Tensor::empty({rows}, x.dtype()),
                         Tensor::empty({rows}, x.dtype())};
  dispatch_floating(x.dtype(), "layer_norm", [&]<class T>() {
    const T* in = x.data<T>();
    const T* w = weight.data<T>();
    const T* b = bias.data<T>();
    T* y = result.y.data<T>();
    T* mean = result.mean.data<T>();
    T* rstd = result.rstd.data<T>();
#pragma omp parallel for if (x.numel() > kParallelElements)
    for (int64_t r = 0; r < rows; ++r) {
      const T* p = in + r * features;
      // Two passes (mean, then centred squares): no cancellation when |mean| >> std.
      double total = 0;
      for (int64_t j = 0; j < features; ++j) total += p[j];
      const double row_mean = total / static_cast<double>(features);
      double squares = 0;
      for (int64_t j = 0; j < features; ++j) squares += (p[j] - row_mean) * (p[j] - row_mean);
      const double row_rstd = 1.0 / std::sqrt(squares / static_cast<double>(features) + eps);
      mean[r] = static_cast<T>(row_mean);
      rstd[r] = static_cast<T>(row_rstd);
      const T m = static_cast<T>(row_mean), s = static_cast<T>(row_rstd);
      T* q = y + r * features;
#pragma omp simd
      for (int64_t j = 0; j < features; ++j) q[j] = (p[j] - m) * s * w[j] + b[j];
    }
  });
  return result;
}

LayerNormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, bool need_x, bool need_weight, bool need_bias) {
  const int64_t features = x.size(-1), rows = features == 0 ? 0 : x.numel() / features;
  LayerNormGrads grads;
  if (need_x) grads.x = Tensor::empty(x.shape(), x.dtype());
  if (need_weight) grads.weight = Tensor::empty({features}, x.dtype());
  if (need_bias) grads.bias = Tensor::empty({features}, x.dtype());
  dispatch_floating(x.dtype(), "layer_norm_backward", [&]<class T>() {
    const T* g = grad_output.data<T>();
    const T* in = x.data<T>();
    const T* w = weight.data<T>();
    const T* mu = mean.data<T>();
    const T* rs = rstd.data<T>();
    if (need_x) {
      // With xhat = (x - mean) rstd and dxhat = g w:
      // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
      T* dx = grads.x.data<T>();
#pragma omp parallel for if (x.numel() > kParallelElements)
      for (int64_t r = 0; r < rows; ++r) {
        const T* gr = g + r * features;
        const T* p = in + r * features;
        double sum_dxhat = 0, sum_dxhat_xhat = 0;
        for (int64_t j = 0; j < features; ++j) {
          const T dxhat = gr[j] * w[j];
          sum_dxhat += dxhat;
          sum_dxhat_xhat += dxhat * ((p[j] - mu[r]) * rs[r]);
        }
        const T mean_dxhat = static_cast<T>(sum_dxhat / static_cast<double>(features));
        const T mean_dxhat_xhat = static_cast<T>(sum_dxhat_xhat / static_cast<double>(features));
        T* q = dx + r * features;
        for (int64_t j = 0; j < features; ++j) {
          const T xhat = (p[j] - mu[r]) * rs[r];
          q[j] = rs[r] * (gr[j] * w[j] - mean_dxhat - xhat * mean_dxhat_xhat);
        }
      }
    }
    if (!need_weight && !need_bias) return;
    // dweight = sum over rows of g xhat, dbias = sum of g: [0, D) and [D, 2D) of the sums.
    std::vector<double> sums = sum_rows_in_chunks(rows, 2 * features, [&](int64_t r, double* acc) {
      const T* gr = g + r * features;
      const T* p = in + r * features;
#pragma omp simd
      for (int64_t j = 0; j < features; ++j) {
        acc[j] += gr[j] * ((p[j] - mu[r]) * rs[r]);
        acc[features + j] += gr[j];
      }
    });
    for (int64_t j = 0; j < features; ++j) {
      if (need_weight) grads.weight.data<T>()[j] = static_cast<T>(sums[j]);
      if (need_bias) grads.bias.data<T>()[j] = static_cast<T>(sums[features + j]);
    }
  });
  return grads;
}

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  const Lines lines = lines_along(x.shape(), dim, "l2_normalize");
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "l2_normalize", [&]<class T>() {
    const T* in = x.data<T>();
    T* z = out.data<T>();
    const int64_t size = lines.size, stride = lines.inner;
    for_each_line(lines, [&](int64_t base) {
      double squares = 0;
      for (int64_t k = 0; k < size; ++k) squares += double(in[base + k * stride]) * in[base + k * stride];
      const T inverse = static_cast<T>(1.0 / std::max(std::sqrt(squares), eps));
      for (int64_t k = 0; k < size; ++k) z[base + k * stride] = in[base + k * stride] * inverse;
    });
  });
  return out;
}

Tensor l2_normalize_backward(const Tensor& grad_output, const Tensor& x, int64_t dim, double eps) {
  const Lines lines = lines_along(x.shape(), dim, "l2_normalize_backward");
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), "l2_normalize_backward", [&]<class T>() {
    const T* g = grad_output.data<T>();
    const T* in = x.data<T>();
    T* z = out.data<T>();
    const int64_t size = lines.size, stride = lines.inner;
    for_each_line(lines, [&](int64_t base) {
      double squares = 0, dot = 0;
      for (int64_t k = 0; k < size; ++k) {
        const int64_t i = base + k * stride;
        squares += double(in[i]) * in[i];
        dot += double(g[i]) * in[i];
      }
      const double norm = std::sqrt(squares);
      if (norm > eps) {
        // y = x / |x|: dx = (g - y <g, y>) / |x|
        const T inverse = static_cast<T>(1.0 / norm), projection = static_cast<T>(dot / (norm * norm));
        for (int64_t k = 0; k < size; ++k) {
          const int64_t i = base + k * stride;
          z[i] = (g[i] - in[i] * projection) * inverse;
        }
      } else {
        // y = x / eps is linear in x
        const T inverse = static_cast<T>(1.0 / eps);
        for (int64_t k = 0; k < size; ++k) z[base + k * stride] = g[base + k * stride] * inverse;
      }
    });
  });
  return out;
}

}  // namespace clipgrad::cpu
