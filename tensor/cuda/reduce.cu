// The CUDA kernels of the reduce family (tensor/ops/reduce.h), the twin of
// tensor/cpu/reduce.cpp: sum and mean along a dim, sum_all, softmax and
// log_softmax with their backwards, and cross-entropy.
//
// - sum / mean along a dim, x viewed as [outer, size, inner]: one thread per
//   output (outer * inner of them), summing its `size` inputs in order, the
//   CPU kernel's order exactly (bit-identical results). Threads of a warp read
//   neighbouring `inner` positions: coalesced unless inner == 1.
// - sum_all: fixed chunks summed by fixed_order_sums.cu, then added in order.
// - softmax family: x is viewed as lines along `dim`. One warp per line:
//   lane l takes k = l, l + 32, ...; max and sums are warp butterflies (fixed
//   order, double accumulation as on the CPU). 256-thread blocks hold 8
//   lines. Each lane rereads only the elements it wrote itself, so no barrier
//   is needed. The sums' order differs from the CPU's sequential loop: in
//   double, that changes f32 results by at most the final rounding.
#include <cmath>

#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

constexpr int64_t kSumAllChunk = 32768;  // tensor/cpu/reduce.cpp's sum_all chunk

// ---- kernels ----

// in [outer, size, inner] -> out [outer, inner] = factor * sum over size
template <class T>
__global__ void sum_along_kernel(const T* in, T* out, int64_t outer, int64_t size, int64_t inner, double factor) {
  CLIPGRAD_GRID_STRIDE(o, outer * inner) {
    const int64_t first = (o / inner) * size * inner + o % inner;
    double acc = 0;
    for (int64_t k = 0; k < size; ++k) acc += in[first + k * inner];
    out[o] = static_cast<T>(acc * factor);
  }
}

// x, y [lines along dim]: y = softmax (kLog: log_softmax) of each line
template <bool kLog, class T>
__global__ void softmax_kernel(const T* x, T* y, LineMap map) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(line, map.lines) {
    const T* p = x + map.base(line);
    T* q = y + map.base(line);
    T max = -static_cast<T>(INFINITY);
    for (int64_t k = lane; k < map.size; k += kWarp) max = p[k * map.inner] > max ? p[k * map.inner] : max;
    max = warp_max(max);
    double total = 0;
    for (int64_t k = lane; k < map.size; k += kWarp) {
      const T e = ::exp(p[k * map.inner] - max);
      if constexpr (!kLog) q[k * map.inner] = e;
      total += e;
    }
    total = warp_sum(total);
    if constexpr (kLog) {
      const T log_sum = static_cast<T>(double(max) + ::log(total));
      for (int64_t k = lane; k < map.size; k += kWarp) q[k * map.inner] = p[k * map.inner] - log_sum;
    } else {
      const T inverse = static_cast<T>(1.0 / total);
      for (int64_t k = lane; k < map.size; k += kWarp) q[k * map.inner] *= inverse;
    }
  }
}

// g, y, dx [lines along dim]: softmax: dx = y (g - <g, y>); log_softmax: dx = g - exp(y) sum(g)
template <bool kLog, class T>
__global__ void softmax_backward_kernel(const T* g, const T* y, T* dx, LineMap map) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(line, map.lines) {
    const int64_t base = map.base(line);
    double reduced = 0;
    for (int64_t k = lane; k < map.size; k += kWarp) {
      const int64_t i = base + k * map.inner;
      reduced += kLog ? double(g[i]) : double(g[i]) * double(y[i]);
    }
    const T reduced_t = static_cast<T>(warp_sum(reduced));
    for (int64_t k = lane; k < map.size; k += kWarp) {
      const int64_t i = base + k * map.inner;
      dx[i] = kLog ? g[i] - ::exp(y[i]) * reduced_t : y[i] * (g[i] - reduced_t);
    }
  }
}

// logits [rows, classes], targets i32 [rows] -> row_loss f64 [rows] = logsumexp - logit of the target
template <class T>
__global__ void cross_entropy_rows_kernel(const T* logits, const int32_t* targets, double* row_loss, int64_t rows,
                                          int64_t classes) {
  const int lane = threadIdx.x % kWarp;
  CLIPGRAD_FOR_EACH_LINE(n, rows) {
    const T* p = logits + n * classes;
    T max = -static_cast<T>(INFINITY);
    for (int64_t c = lane; c < classes; c += kWarp) max = p[c] > max ? p[c] : max;
    max = warp_max(max);
    double total = 0;
    for (int64_t c = lane; c < classes; c += kWarp) total += ::exp(p[c] - max);
    total = warp_sum(total);
    if (lane == 0) row_loss[n] = double(max) + ::log(total) - double(p[targets[n]]);
  }
}

// row_loss [rows] -> loss [] = their mean, added in row order (the CPU's)
template <class T>
__global__ void mean_loss_kernel(const double* row_loss, int64_t rows, T* loss) {
  double total = 0;
  for (int64_t n = 0; n < rows; ++n) total += row_loss[n];
  *loss = static_cast<T>(total / static_cast<double>(rows));
}

// probs [rows, classes] in place -> (probs - onehot(targets)) * factor
template <class T>
__global__ void cross_entropy_grad_kernel(T* probs, const int32_t* targets, int64_t rows, int64_t classes, T factor) {
  CLIPGRAD_GRID_STRIDE(i, rows * classes) {
    const int64_t n = i / classes, c = i % classes;
    const T value = c == targets[n] ? probs[i] - T(1) : probs[i];
    probs[i] = value * factor;
  }
}

// ---- launchers ----

Tensor scaled_sum(const Tensor& x, int64_t dim, bool keepdim, bool average, const char* op) {
  const ops::Lines lines = ops::lines_along(x.shape(), dim, op);
  Shape out_shape = x.shape();
  if (keepdim) {
    out_shape[lines.dim] = 1;
  } else {
    out_shape.erase(out_shape.begin() + lines.dim);
  }
  const double factor = average ? 1.0 / static_cast<double>(lines.size) : 1.0;
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    const int64_t outputs = lines.outer * lines.inner;
    if (outputs == 0) return;
    launch("sum_along_kernel", sum_along_kernel<T>, {grid_for(outputs), kThreads}, device_data<T>(x),
           device_data<T>(out), lines.outer, lines.size, lines.inner, factor);
  });
  return out;
}

template <bool kLog>
Tensor softmax_impl(const Tensor& x, int64_t dim, const char* op) {
  const LineMap map = line_map(x.shape(), dim, op);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    if (x.numel() == 0) return;
    launch("softmax_kernel", softmax_kernel<kLog, T>, {line_grid(map.lines), kThreads}, device_data<T>(x),
           device_data<T>(out), map);
  });
  return out;
}

template <bool kLog>
Tensor softmax_backward_impl(const Tensor& grad_output, const Tensor& y, int64_t dim, const char* op) {
  const LineMap map = line_map(y.shape(), dim, op);
  Tensor out = Tensor::empty(y.shape(), y.dtype(), Device::CUDA);
  dispatch_floating(y.dtype(), op, [&]<class T>() {
    if (y.numel() == 0) return;
    launch("softmax_backward_kernel", softmax_backward_kernel<kLog, T>, {line_grid(map.lines), kThreads},
           device_data<T>(grad_output), device_data<T>(y), device_data<T>(out), map);
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return scaled_sum(x, dim, keepdim, false, "sum"); }

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return scaled_sum(x, dim, keepdim, true, "mean"); }

Tensor sum_all(const Tensor& x) {
  Tensor out = Tensor::empty({}, x.dtype(), Device::CUDA);
  check_floating(x, "sum_all");
  ordered_total(chunk_sums(x, kSumAllChunk, false), out);
  return out;
}

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl<false>(x, dim, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl<true>(x, dim, "log_softmax"); }

Tensor softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  return softmax_backward_impl<false>(grad_output, y, dim, "softmax_backward");
}

Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  return softmax_backward_impl<true>(grad_output, y, dim, "log_softmax_backward");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor out = Tensor::empty({}, logits.dtype(), Device::CUDA);
  dispatch_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    Tensor row_loss = Tensor::empty({rows}, DType::F64, Device::CUDA);
    if (rows > 0) {
      launch("cross_entropy_rows_kernel", cross_entropy_rows_kernel<T>, {line_grid(rows), kThreads},
             device_data<T>(logits), device_data<int32_t>(targets), device_data<double>(row_loss), rows, classes);
    }
    launch("mean_loss_kernel", mean_loss_kernel<T>, {1, 1}, device_data<double>(row_loss), rows, device_data<T>(out));
  });
  return out;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double grad_loss) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor out = softmax(logits, 1);
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    if (out.numel() == 0) return;
    const T factor = static_cast<T>(grad_loss / static_cast<double>(rows));
    launch("cross_entropy_grad_kernel", cross_entropy_grad_kernel<T>, {grid_for(out.numel()), kThreads},
           device_data<T>(out), device_data<int32_t>(targets), rows, classes, factor);
  });
  return out;
}

}  // namespace clipgrad::cuda
