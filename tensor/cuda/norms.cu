// The CUDA kernels of the norms family (tensor/ops/reduce.h), the twin of
// tensor/cpu/norms.cpp: layer_norm and l2_normalize, forward and backward.
//
// - layer_norm_kernel3 is version 3 of the kernel lab dev/cuda/layer_norm.cu:
//   a warp per row that keeps the row statistics in double and reads x three
//   times (mean, centred squares, output), so that CUDA gives the CPU's mean,
//   rstd and y to the final rounding. The lab's version 2 holds the row in
//   registers and sums in f32: one read of x instead of three, so faster on a
//   memory-bound op, but it gives up that agreement; the lab times both.
// - Row statistics (layer_norm's mean/rstd, its dx, the L2 norms): one warp
//   per row/line, 8 per 256-thread block, sums in double by warp butterfly
//   (fixed order; the CPU's is sequential, so f32 results agree to the
//   final rounding). mean and rstd are saved in x's dtype (fp32 for f32).
// - layer_norm's weight and bias gradients, sums over all rows of [rows, D]:
//   no atomics; pass 1 a thread per (256-row chunk, feature) sums its chunk
//   (coalesced over features), pass 2 (column_totals) adds the chunks in
//   order: the CPU's chunks and order, so bit-identical with it.
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

// ---- kernels ----

// x, y [rows, features]; weight, bias [features]; mean, rstd [rows]
template <class T>
__global__ void layer_norm_kernel3(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                                   int64_t features, double eps) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(r, rows) {
    const T* p = x + r * features;
    // Two passes (mean, then centred squares): no cancellation when |mean| >> std.
    double total = 0;
    for (int64_t j = lane; j < features; j += kWarp) total += p[j];
    const double row_mean = warp_sum(total) / static_cast<double>(features);
    double squares = 0;
    for (int64_t j = lane; j < features; j += kWarp) squares += (p[j] - row_mean) * (p[j] - row_mean);
    const double row_rstd = 1.0 / ::sqrt(warp_sum(squares) / static_cast<double>(features) + eps);
    if (lane == 0) {
      mean[r] = static_cast<T>(row_mean);
      rstd[r] = static_cast<T>(row_rstd);
    }
    const T m = static_cast<T>(row_mean), s = static_cast<T>(row_rstd);
    T* q = y + r * features;
    for (int64_t j = lane; j < features; j += kWarp) q[j] = (p[j] - m) * s * weight[j] + bias[j];
  }
}

// g, x, dx [rows, features]; weight [features]; mean, rstd [rows]
// dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g w
template <class T>
__global__ void layer_norm_dx_kernel(const T* g, const T* x, const T* weight, const T* mean, const T* rstd, T* dx,
                                     int64_t rows, int64_t features) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(r, rows) {
    const T* gr = g + r * features;
    const T* p = x + r * features;
    const T mu = mean[r], rs = rstd[r];
    double sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (int64_t j = lane; j < features; j += kWarp) {
      const T dxhat = gr[j] * weight[j];
      sum_dxhat += dxhat;
      sum_dxhat_xhat += dxhat * ((p[j] - mu) * rs);
    }
    const T mean_dxhat = static_cast<T>(warp_sum(sum_dxhat) / static_cast<double>(features));
    const T mean_dxhat_xhat = static_cast<T>(warp_sum(sum_dxhat_xhat) / static_cast<double>(features));
    T* q = dx + r * features;
    for (int64_t j = lane; j < features; j += kWarp) {
      const T xhat = (p[j] - mu) * rs;
      q[j] = rs * (gr[j] * weight[j] - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
}

// g, x [rows, features] -> partial_weight, partial_bias f64 [chunks, features]:
// each chunk's sums of g xhat and of g
template <class T>
__global__ void layer_norm_param_chunks_kernel(const T* g, const T* x, const T* mean, const T* rstd,
                                               double* partial_weight, double* partial_bias, int64_t rows,
                                               int64_t features) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, chunk = blockIdx.y;
  if (j >= features) return;
  double acc_weight = 0, acc_bias = 0;
  for (int64_t r = chunk * kRowChunk; r < smaller(rows, (chunk + 1) * kRowChunk); ++r) {
    const T gj = g[r * features + j];
    acc_weight += gj * ((x[r * features + j] - mean[r]) * rstd[r]);
    acc_bias += gj;
  }
  partial_weight[chunk * features + j] = acc_weight;
  partial_bias[chunk * features + j] = acc_bias;
}

// x, y [lines along dim]: y = x / max(|x|, eps)
template <class T>
__global__ void l2_normalize_kernel(const T* x, T* y, LineMap map, double eps) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(line, map.lines) {
    const int64_t base = map.base(line);
    double squares = 0;
    for (int64_t k = lane; k < map.size; k += kWarp) {
      const double value = x[base + k * map.inner];
      squares += value * value;
    }
    const double norm = ::sqrt(warp_sum(squares));
    const T inverse = static_cast<T>(1.0 / (norm < eps ? eps : norm));  // std::max(norm, eps), NaN kept
    for (int64_t k = lane; k < map.size; k += kWarp) y[base + k * map.inner] = x[base + k * map.inner] * inverse;
  }
}

// g, x, dx [lines along dim]: dx = (g - x <g, x> / |x|^2) / |x|, or g / eps where |x| <= eps
template <class T>
__global__ void l2_normalize_backward_kernel(const T* g, const T* x, T* dx, LineMap map, double eps) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(line, map.lines) {
    const int64_t base = map.base(line);
    double squares = 0, dot = 0;
    for (int64_t k = lane; k < map.size; k += kWarp) {
      const int64_t i = base + k * map.inner;
      squares += double(x[i]) * double(x[i]);
      dot += double(g[i]) * double(x[i]);
    }
    const double norm = ::sqrt(warp_sum(squares));
    dot = warp_sum(dot);
    if (norm > eps) {
      const T inverse = static_cast<T>(1.0 / norm), projection = static_cast<T>(dot / (norm * norm));
      for (int64_t k = lane; k < map.size; k += kWarp) {
        const int64_t i = base + k * map.inner;
        dx[i] = (g[i] - x[i] * projection) * inverse;
      }
    } else {
      const T inverse = static_cast<T>(1.0 / eps);
      for (int64_t k = lane; k < map.size; k += kWarp) dx[base + k * map.inner] = g[base + k * map.inner] * inverse;
    }
  }
}

// ---- launchers ----

}  // namespace

// ---- launchers ----

ops::LayerNormOutput layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t features = x.size(-1), rows = features == 0 ? 0 : x.numel() / features;
  ops::LayerNormOutput result{Tensor::empty(x.shape(), x.dtype(), Device::CUDA),
                              Tensor::empty({rows}, x.dtype(), Device::CUDA),
                              Tensor::empty({rows}, x.dtype(), Device::CUDA)};
  dispatch_floating(x.dtype(), "layer_norm", [&]<class T>() {
    if (rows == 0) return;
    launch("layer_norm_kernel3", layer_norm_kernel3<T>, {line_grid(rows), kThreads}, device_data<T>(x),
           device_data<T>(weight), device_data<T>(bias), device_data<T>(result.y), device_data<T>(result.mean),
           device_data<T>(result.rstd), rows, features, eps);
  });
  return result;
}

ops::LayerNormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& rstd, bool need_x, bool need_weight,
                                        bool need_bias) {
  const int64_t features = x.size(-1), rows = features == 0 ? 0 : x.numel() / features;
  ops::LayerNormGrads grads;
  if (need_x) grads.x = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  if (need_weight) grads.weight = Tensor::empty({features}, x.dtype(), Device::CUDA);
  if (need_bias) grads.bias = Tensor::empty({features}, x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), "layer_norm_backward", [&]<class T>() {
    if (need_x && rows > 0) {
      launch("layer_norm_dx_kernel", layer_norm_dx_kernel<T>, {line_grid(rows), kThreads}, device_data<T>(grad_output),
             device_data<T>(x), device_data<T>(weight), device_data<T>(mean), device_data<T>(rstd),
             device_data<T>(grads.x), rows, features);
    }
    if ((!need_weight && !need_bias) || features == 0) return;
    const int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
    if (chunks > 65535)
      throw std::invalid_argument("layer_norm_backward: " + str(rows) + " rows are more than CUDA's grid takes");
    Tensor partial_weight = Tensor::zeros({chunks, features}, DType::F64, Device::CUDA);
    Tensor partial_bias = Tensor::zeros({chunks, features}, DType::F64, Device::CUDA);
    if (chunks > 0) {
      const dim3 grid(static_cast<unsigned>((features + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
      launch("layer_norm_param_chunks_kernel", layer_norm_param_chunks_kernel<T>, {grid, kThreads},
             device_data<T>(grad_output), device_data<T>(x), device_data<T>(mean), device_data<T>(rstd),
             device_data<double>(partial_weight), device_data<double>(partial_bias), rows, features);
    }
    if (need_weight) column_totals(partial_weight, grads.weight);
    if (need_bias) column_totals(partial_bias, grads.bias);
  });
  return grads;
}

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  const LineMap map = line_map(x.shape(), dim, "l2_normalize");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), "l2_normalize", [&]<class T>() {
    if (x.numel() == 0) return;
    launch("l2_normalize_kernel", l2_normalize_kernel<T>, {line_grid(map.lines), kThreads}, device_data<T>(x),
           device_data<T>(out), map, eps);
  });
  return out;
}

Tensor l2_normalize_backward(const Tensor& grad_output, const Tensor& x, int64_t dim, double eps) {
  const LineMap map = line_map(x.shape(), dim, "l2_normalize_backward");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), "l2_normalize_backward", [&]<class T>() {
    if (x.numel() == 0) return;
    launch("l2_normalize_backward_kernel", l2_normalize_backward_kernel<T>, {line_grid(map.lines), kThreads},
           device_data<T>(grad_output), device_data<T>(x), device_data<T>(out), map, eps);
  });
  return out;
}

}  // namespace clipgrad::cuda
