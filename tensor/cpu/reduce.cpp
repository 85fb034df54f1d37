#include "tensor/cpu/kernels.h"
#include "tensor/ops/reduce.h"

#include "tensor/cpu/row_sums.h"
#include "tensor/shape_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace clipgrad::cpu {

namespace {

// Below this many elements a loop runs on one thread: forking costs more.
constexpr int64_t kParallelElements = 65536;

using ops::Lines;
using ops::lines_along;

// Calls fn(base) for every line, in parallel when the tensor is large.
template <class Fn>
void for_each_line(const Lines& lines, Fn fn) {
  const int64_t count = lines.outer * lines.inner;
#pragma omp parallel for if (count * lines.size > kParallelElements)
  for (int64_t l = 0; l < count; ++l) fn((l / lines.inner) * lines.size * lines.inner + l % lines.inner);
}

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
  check_same_shape(grad_output, y, "softmax_backward");
  check_same_dtype(grad_output, y, "softmax_backward");
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
  check_same_shape(grad_output, y, "log_softmax_backward");
  check_same_dtype(grad_output, y, "log_softmax_backward");
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

namespace {


}  // namespace

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

namespace {


}  // namespace

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

LayerNormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& rstd, bool need_x, bool need_weight,
                                   bool need_bias) {
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
  check_same_shape(grad_output, x, "l2_normalize_backward");
  check_same_dtype(grad_output, x, "l2_normalize_backward");
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

void fill_reduce_kernels(ops::Kernels& table) {
  table.sum = &sum;
  table.mean = &mean;
  table.sum_all = &sum_all;
  table.softmax = &softmax;
  table.log_softmax = &log_softmax;
  table.softmax_backward = &softmax_backward;
  table.log_softmax_backward = &log_softmax_backward;
  table.cross_entropy = &cross_entropy;
  table.cross_entropy_backward = &cross_entropy_backward;
  table.layer_norm = &layer_norm;
  table.layer_norm_backward = &layer_norm_backward;
  table.l2_normalize = &l2_normalize;
  table.l2_normalize_backward = &l2_normalize_backward;
}

}  // namespace clipgrad::cpu
