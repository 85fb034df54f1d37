// The CPU kernels of the reduce family (tensor/ops/reduce.h): sum and mean
// along a dim, sum_all, softmax and log_softmax with their backwards, and
// cross-entropy. Every sum runs in double, in an order fixed by the shape.
// The CUDA twin is tensor/cuda/reduce.cu.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

using ops::Lines;
using ops::lines_along;

// factor * the sum along dim; threads split (outer, inner-block) tiles so each
// output is summed by one thread in a fixed order.
Tensor scaled_sum(const Tensor& x, int64_t dim, bool keepdim, double factor, const char* op) {
  const Lines lines = lines_along(x.shape(), dim, op);
  Shape out_shape = x.shape();
  if (keepdim) {
    out_shape[lines.dim] = 1;
  } else {
    out_shape.erase(out_shape.begin() + lines.dim);
  }
  Tensor out = Tensor::empty(out_shape, x.dtype());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    const T* in = x.data<T>();
    T* z = out.data<T>();
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (lines.inner + kBlock - 1) / kBlock, tiles = lines.outer * blocks;
#pragma omp parallel for if (x.numel() > kParallelElements)
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t o = tile / blocks, begin = (tile % blocks) * kBlock;
      const int64_t width = std::min(kBlock, lines.inner - begin);
      double acc[kBlock] = {};
      for (int64_t k = 0; k < lines.size; ++k) {
        const T* row = in + (o * lines.size + k) * lines.inner + begin;
        for (int64_t j = 0; j < width; ++j) acc[j] += row[j];
      }
      for (int64_t j = 0; j < width; ++j) z[o * lines.inner + begin + j] = static_cast<T>(acc[j] * factor);
    }
  });
  return out;
}

template <bool kLog>
Tensor softmax_impl(const Tensor& x, int64_t dim, const char* op) {
  const Lines lines = lines_along(x.shape(), dim, op);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    const T* in = x.data<T>();
    T* z = out.data<T>();
    const int64_t size = lines.size, stride = lines.inner;
    for_each_line(lines, [&](int64_t base) {
      const T* p = in + base;
      T* q = z + base;
      T max = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < size; ++k) max = std::max(max, p[k * stride]);
      double total = 0;
      for (int64_t k = 0; k < size; ++k) {
        const T e = std::exp(p[k * stride] - max);
        if constexpr (!kLog) q[k * stride] = e;
        total += e;
      }
      if constexpr (kLog) {
        const T log_sum = static_cast<T>(max + std::log(total));
        for (int64_t k = 0; k < size; ++k) q[k * stride] = p[k * stride] - log_sum;
      } else {
        const T inverse = static_cast<T>(1.0 / total);
        for (int64_t k = 0; k < size; ++k) q[k * stride] *= inverse;
      }
    });
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return scaled_sum(x, dim, keepdim, 1.0, "sum"); }

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t size = x.shape()[lines_along(x.shape(), dim, "mean").dim];
  return scaled_sum(x, dim, keepdim, 1.0 / static_cast<double>(size), "mean");
}

Tensor sum_all(const Tensor& x) {
  Tensor out = Tensor::empty({}, x.dtype());
  dispatch_floating(x.dtype(), "sum_all", [&]<class T>() {
    const T* in = x.data<T>();
    // Fixed-size chunks, summed in chunk order: the same result on any number of threads.
    constexpr int64_t kChunk = 32768;
    const int64_t n = x.numel(), chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for if (n > kParallelElements)
    for (int64_t c = 0; c < chunks; ++c) {
      double acc = 0;
      const int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) acc += in[i];
      partial[c] = acc;
    }
    double total = 0;
    for (double value : partial) total += value;
    out.data<T>()[0] = static_cast<T>(total);
  });
  return out;
}

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl<false>(x, dim, "softmax"); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl<true>(x, dim, "log_softmax"); }

Tensor softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  const Lines lines = lines_along(y.shape(), dim, "softmax_backward");
  Tensor out = Tensor::empty(y.shape(), y.dtype());
  dispatch_floating(y.dtype(), "softmax_backward", [&]<class T>() {
    const T* g = grad_output.data<T>();
    const T* s = y.data<T>();
    T* z = out.data<T>();
    const int64_t size = lines.size, stride = lines.inner;
    // dx = y * (g - <g, y>)
    for_each_line(lines, [&](int64_t base) {
      double dot = 0;
      for (int64_t k = 0; k < size; ++k) dot += double(g[base + k * stride]) * s[base + k * stride];
      const T dot_t = static_cast<T>(dot);
      for (int64_t k = 0; k < size; ++k) {
        const int64_t i = base + k * stride;
        z[i] = s[i] * (g[i] - dot_t);
      }
    });
  });
  return out;
}

Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  const Lines lines = lines_along(y.shape(), dim, "log_softmax_backward");
  Tensor out = Tensor::empty(y.shape(), y.dtype());
  dispatch_floating(y.dtype(), "log_softmax_backward", [&]<class T>() {
    const T* g = grad_output.data<T>();
    const T* s = y.data<T>();
    T* z = out.data<T>();
    const int64_t size = lines.size, stride = lines.inner;
    // dx = g - softmax * sum(g)
    for_each_line(lines, [&](int64_t base) {
      double total = 0;
      for (int64_t k = 0; k < size; ++k) total += g[base + k * stride];
      const T total_t = static_cast<T>(total);
      for (int64_t k = 0; k < size; ++k) {
        const int64_t i = base + k * stride;
        z[i] = g[i] - std::exp(s[i]) * total_t;
      }
    });
  });
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor out = Tensor::empty({}, logits.dtype());
  dispatch_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    const T* x = logits.data<T>();
    const int32_t* t = targets.data<int32_t>();
    std::vector<double> row_loss(rows);
#pragma omp parallel for if (logits.numel() > kParallelElements)
    for (int64_t n = 0; n < rows; ++n) {
      const T* p = x + n * classes;
      const T max = *std::max_element(p, p + classes);
      double total = 0;
      for (int64_t c = 0; c < classes; ++c) total += std::exp(p[c] - max);
      row_loss[n] = double(max) + std::log(total) - double(p[t[n]]);
    }
    double loss = 0;
    for (double value : row_loss) loss += value;
    out.data<T>()[0] = static_cast<T>(loss / static_cast<double>(rows));
  });
  return out;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double grad_loss) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor out = softmax(logits, 1);
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&]<class T>() {
    T* z = out.data<T>();
    const int32_t* t = targets.data<int32_t>();
    const T factor = static_cast<T>(grad_loss / static_cast<double>(rows));
    // d loss / d logits[n] = (softmax(logits[n]) - onehot(t[n])) / N
#pragma omp parallel for if (logits.numel() > kParallelElements)
    for (int64_t n = 0; n < rows; ++n) {
      T* q = z + n * classes;
      q[t[n]] -= T(1);
      for (int64_t c = 0; c < classes; ++c) q[c] *= factor;
    }
  });
  return out;
}

}  // namespace clipgrad::cpu
