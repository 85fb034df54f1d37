// The CPU kernels of the conv family (tensor/ops/conv.h): conv2d and its
// backward through im2col/col2im and OpenBLAS GEMMs, in chunks of images
// that bound the column buffer. The CUDA twin is tensor/cuda/blas/conv.cpp
// (cuDNN).
#include <algorithm>
#include <cmath>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

// im2col buffers are sized to hold this many bytes at most, so a large batch
// is processed in chunks of images instead of one huge [N, K, P] buffer.
constexpr int64_t kColumnBytes = int64_t{32} << 20;
// Outputs with fewer pixels per image than this are convolved a chunk of images per GEMM.
constexpr int64_t kWidePixels = 1024;

// The shapes of one convolution; K and P are the im2col matrix's [K, P].
struct ConvGeometry : ops::Conv2dShape {
  int64_t K() const { return channels * kernel_h * kernel_w; }
  int64_t P() const { return out_h * out_w; }
  // Small outputs (H' * W' = 7 * 7 in a ResNet's last stage) make thin
  // per-image GEMMs, so a chunk of images becomes one wide [K, count * P]
  // column matrix and one GEMM, at the cost of reordering the output block.
  // Large outputs run one GEMM per image straight into the output.
  bool wide() const { return P() < kWidePixels; }
  // A 1x1, stride-1, unpadded convolution reads x itself as its per-image [C, H * W] column matrix.
  bool direct() const { return kernel_h == 1 && kernel_w == 1 && stride == 1 && padding == 0 && !wide(); }
  // Images per chunk, so that the column matrix (and the wide output block) fit kColumnBytes.
  int64_t chunk(size_t element_bytes) const {
    const int64_t rows = K() + (wide() ? out_channels : 0);
    const int64_t per_image = std::max<int64_t>(1, rows * P() * static_cast<int64_t>(element_bytes));
    return std::clamp<int64_t>(kColumnBytes / per_image, 1, batch);
  }
  // Where image n of a chunk of `count` starts in the column matrix, and the distance between its rows.
  int64_t column_offset(int64_t n) const { return wide() ? n * P() : n * K() * P(); }
  int64_t column_pitch(int64_t count) const { return wide() ? count * P() : P(); }
};

ConvGeometry conv_geometry(const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding) {
  return {ops::conv2d_shape(x, weight, stride, padding)};
}

// The output columns [lo, hi) whose input column ox * stride - padding + k lies in [0, size).
void valid_range(int64_t size, int64_t out_size, int64_t stride, int64_t padding, int64_t k, int64_t& lo, int64_t& hi) {
  const int64_t first = padding - k;  // input index = ox * stride - first
  lo = first > 0 ? (first + stride - 1) / stride : 0;
  const int64_t last = size - 1 + first;
  hi = last >= 0 ? std::min(out_size, last / stride + 1) : 0;
  lo = std::min(lo, hi);
}

// The rows of the column matrix that channel c of one image owns, rows
// c*kh*kw .. (c+1)*kh*kw - 1: x_image [C, H, W] -> col, whose row r starts at
// col + r * pitch and holds this image's P = H' * W' columns.
template <class T>
void im2col_channel(const ConvGeometry& g, const T* x_image, T* col, int64_t pitch, int64_t c) {
  for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
    int64_t y_lo, y_hi;
    valid_range(g.height, g.out_h, g.stride, g.padding, ki, y_lo, y_hi);
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      int64_t x_lo, x_hi;
      valid_range(g.width, g.out_w, g.stride, g.padding, kj, x_lo, x_hi);
      T* dst = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * pitch;
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        T* row = dst + oy * g.out_w;
        if (oy < y_lo || oy >= y_hi) {
          std::fill(row, row + g.out_w, T(0));
          continue;
        }
        const T* src = x_image + (c * g.height + oy * g.stride - g.padding + ki) * g.width - g.padding + kj;
        std::fill(row, row + x_lo, T(0));
        for (int64_t ox = x_lo; ox < x_hi; ++ox) row[ox] = src[ox * g.stride];
        std::fill(row + x_hi, row + g.out_w, T(0));
      }
    }
  }
}

// The adjoint of im2col_channel: col -> dx_image [C, H, W] (channel c), accumulating.
template <class T>
void col2im_channel(const ConvGeometry& g, const T* col, int64_t pitch, T* dx_image, int64_t c) {
  for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
    int64_t y_lo, y_hi;
    valid_range(g.height, g.out_h, g.stride, g.padding, ki, y_lo, y_hi);
    for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
      int64_t x_lo, x_hi;
      valid_range(g.width, g.out_w, g.stride, g.padding, kj, x_lo, x_hi);
      const T* src = col + ((c * g.kernel_h + ki) * g.kernel_w + kj) * pitch;
      for (int64_t oy = y_lo; oy < y_hi; ++oy) {
        const T* row = src + oy * g.out_w;
        T* dst = dx_image + (c * g.height + oy * g.stride - g.padding + ki) * g.width - g.padding + kj;
        for (int64_t ox = x_lo; ox < x_hi; ++ox) dst[ox * g.stride] += row[ox];
      }
    }
  }
}

// The column matrix of images first .. first+count-1 of x [N, C, H, W]:
// [count, K, P], or [K, count * P] when the geometry is wide.
template <class T>
void im2col_chunk(const ConvGeometry& g, const T* x, T* col, int64_t first, int64_t count) {
  const int64_t image = g.channels * g.height * g.width, pitch = g.column_pitch(count);
#pragma omp parallel for collapse(2) if (count * g.K() * g.P() > kParallelElements)
  for (int64_t n = 0; n < count; ++n)
    for (int64_t c = 0; c < g.channels; ++c)
      im2col_channel(g, x + (first + n) * image, col + g.column_offset(n), pitch, c);
}

// dx [count, C, H, W] += the adjoint of im2col_chunk applied to col.
template <class T>
void col2im_chunk(const ConvGeometry& g, const T* col, T* dx, int64_t count) {
  const int64_t image = g.channels * g.height * g.width, pitch = g.column_pitch(count);
#pragma omp parallel for collapse(2) if (count * g.K() * g.P() > kParallelElements)
  for (int64_t n = 0; n < count; ++n)
    for (int64_t c = 0; c < g.channels; ++c) col2im_channel(g, col + g.column_offset(n), pitch, dx + n * image, c);
}

// src [a, b, p] -> dst [b, a, p]: between per-image [count, O, P] and a wide block [O, count * P].
template <class T>
void swap_leading(const T* src, T* dst, int64_t a, int64_t b, int64_t p) {
#pragma omp parallel for if (a * b * p > kParallelElements)
  for (int64_t row = 0; row < a * b; ++row)
    std::copy(src + row * p, src + (row + 1) * p, dst + (row % b * a + row / b) * p);
}

template <class T>
void conv2d_forward_kernel(const ConvGeometry& g, const T* x, const T* weight, const T* bias, T* out) {
  const int64_t K = g.K(), P = g.P(), O = g.out_channels, image = g.channels * g.height * g.width;
  if (g.direct()) {
    blas_gemm_batched<T>(false, false, g.batch, O, P, K, T(1), weight, 0, x, image, T(0), out, O * P);
  } else {
    const int64_t chunk = g.chunk(sizeof(T));
    Tensor col = Tensor::empty({chunk * K * P}, dtype_of<T>());  // [chunk, K, P] or [K, chunk * P]
    Tensor block = g.wide() ? Tensor::empty({O, chunk * P}, dtype_of<T>()) : Tensor();  // [O, chunk * P]
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t count = std::min(chunk, g.batch - first);
      im2col_chunk(g, x, col.data<T>(), first, count);
      if (g.wide()) {
        blas_gemm<T>(false, false, O, count * P, K, T(1), weight, col.data<T>(), T(0), block.data<T>());
        swap_leading(block.data<T>(), out + first * O * P, O, count, P);
      } else {
        blas_gemm_batched<T>(false, false, count, O, P, K, T(1), weight, 0, col.data<T>(), K * P, T(0),
                             out + first * O * P, O * P);
      }
    }
  }
  if (bias == nullptr) return;
#pragma omp parallel for if (g.batch * O * P > kParallelElements)
  for (int64_t plane = 0; plane < g.batch * O; ++plane) {
    T* dst = out + plane * P;
    const T b = bias[plane % O];
    for (int64_t p = 0; p < P; ++p) dst[p] += b;
  }
}

template <class T>
void conv2d_backward_kernel(const ConvGeometry& g, const T* grad, const T* x, const T* weight, T* grad_x,
                            T* grad_weight, T* grad_bias) {
  const int64_t K = g.K(), P = g.P(), O = g.out_channels, image = g.channels * g.height * g.width;
  if (grad_bias != nullptr) {
#pragma omp parallel for if (g.batch * O * P > kParallelElements)
    for (int64_t o = 0; o < O; ++o) {
      T total = 0;
      for (int64_t n = 0; n < g.batch; ++n) {
        const T* src = grad + (n * O + o) * P;
        for (int64_t p = 0; p < P; ++p) total += src[p];
      }
      grad_bias[o] = total;
    }
  }
  if (grad_weight == nullptr && grad_x == nullptr) return;
  if (g.direct()) {
    // grad_weight [O, C] = sum_n grad[n] [O, P] @ x[n]^T; grad_x[n] [C, P] = weight^T @ grad[n].
    for (int64_t n = 0; grad_weight != nullptr && n < g.batch; ++n)
      blas_gemm<T>(false, true, O, K, P, T(1), grad + n * O * P, x + n * image, T(1), grad_weight);
    if (grad_x != nullptr)
      blas_gemm_batched<T>(true, false, g.batch, K, P, O, T(1), weight, 0, grad, O * P, T(0), grad_x, image);
    return;
  }
  const int64_t chunk = g.chunk(sizeof(T));
  Tensor col = Tensor::empty({chunk * K * P}, dtype_of<T>());                         // im2col of x, then d(col)
  Tensor block = g.wide() ? Tensor::empty({O, chunk * P}, dtype_of<T>()) : Tensor();  // [O, chunk * P]
  for (int64_t first = 0; first < g.batch; first += chunk) {
    const int64_t count = std::min(chunk, g.batch - first);
    const T* grad_chunk = grad + first * O * P;  // [count, O, P]
    if (g.wide()) swap_leading(grad_chunk, block.data<T>(), count, O, P);
    if (grad_weight != nullptr) {
      im2col_chunk(g, x, col.data<T>(), first, count);
      if (g.wide())
        blas_gemm<T>(false, true, O, K, count * P, T(1), block.data<T>(), col.data<T>(), T(1), grad_weight);
      else
        for (int64_t n = 0; n < count; ++n)
          blas_gemm<T>(false, true, O, K, P, T(1), grad_chunk + n * O * P, col.data<T>() + n * K * P, T(1),
                       grad_weight);
    }
    if (grad_x != nullptr) {
      if (g.wide())
        blas_gemm<T>(true, false, K, count * P, O, T(1), weight, block.data<T>(), T(0), col.data<T>());
      else
        blas_gemm_batched<T>(true, false, count, K, P, O, T(1), weight, 0, grad_chunk, O * P, T(0), col.data<T>(),
                             K * P);
      col2im_chunk(g, col.data<T>(), grad_x + first * image, count);
    }
  }
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  const ConvGeometry g = conv_geometry(x, weight, stride, padding);
  Tensor out = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, x.dtype());
  if (out.numel() == 0) return out;
  dispatch_floating(x.dtype(), "conv2d", [&]<class T>() {
    conv2d_forward_kernel<T>(g, x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                             out.data<T>());
  });
  return out;
}

Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding,
                            bool need_x, bool need_weight, bool need_bias) {
  const ConvGeometry g = conv_geometry(x, weight, stride, padding);
  Conv2dGrads grads;
  // Zeros: col2im and the per-image weight GEMMs accumulate into them.
  if (need_x) grads.x = Tensor::zeros(x.shape(), x.dtype());
  if (need_weight) grads.weight = Tensor::zeros(weight.shape(), x.dtype());
  if (need_bias) grads.bias = Tensor::zeros({g.out_channels}, x.dtype());
  if (grad.numel() == 0) return grads;
  dispatch_floating(x.dtype(), "conv2d_backward", [&]<class T>() {
    conv2d_backward_kernel<T>(g, grad.data<T>(), x.data<T>(), weight.data<T>(), need_x ? grads.x.data<T>() : nullptr,
                              need_weight ? grads.weight.data<T>() : nullptr,
                              need_bias ? grads.bias.data<T>() : nullptr);
  });
  return grads;
}

}  // namespace clipgrad::cpu
