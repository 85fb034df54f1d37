// The CPU kernels of the pool family (tensor/ops/conv.h): average pooling
// with stride = window (ModifiedResNet's anti-aliased downsampling) and its
// backward. The CUDA twin is tensor/cuda/pool.cu.
#include <algorithm>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

Tensor avg_pool2d(const Tensor& x, int64_t kernel) {
  const int64_t planes = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t out_h = H / kernel, out_w = W / kernel;
  Tensor out = Tensor::empty({x.shape()[0], x.shape()[1], out_h, out_w}, x.dtype());
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    const T* src = x.data<T>();
    T* dst = out.data<T>();
    const T inv_area = T(1) / T(kernel * kernel);
#pragma omp parallel for if (x.numel() > kParallelElements)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const T* in = src + plane * H * W;
      T* o = dst + plane * out_h * out_w;
      for (int64_t oy = 0; oy < out_h; ++oy) {
        T* row = o + oy * out_w;
        std::fill(row, row + out_w, T(0));
        for (int64_t ky = 0; ky < kernel; ++ky) {
          const T* line = in + (oy * kernel + ky) * W;
          for (int64_t ox = 0; ox < out_w; ++ox)
            for (int64_t kx = 0; kx < kernel; ++kx) row[ox] += line[ox * kernel + kx];
        }
        for (int64_t ox = 0; ox < out_w; ++ox) row[ox] *= inv_area;
      }
    }
  });
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, int64_t kernel) {
  const int64_t planes = input_shape[0] * input_shape[1], H = input_shape[2], W = input_shape[3];
  const int64_t out_h = H / kernel, out_w = W / kernel;
  Tensor dx = Tensor::zeros(input_shape, grad.dtype());  // dropped trailing rows/columns get no gradient
  dispatch_floating(grad.dtype(), "avg_pool2d_backward", [&]<class T>() {
    const T* g = grad.data<T>();
    T* d = dx.data<T>();
    const T inv_area = T(1) / T(kernel * kernel);
#pragma omp parallel for if (dx.numel() > kParallelElements)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const T* gp = g + plane * out_h * out_w;
      T* dp = d + plane * H * W;
      for (int64_t iy = 0; iy < out_h * kernel; ++iy) {
        const T* grow = gp + (iy / kernel) * out_w;
        T* drow = dp + iy * W;
        for (int64_t ix = 0; ix < out_w * kernel; ++ix) drow[ix] = grow[ix / kernel] * inv_area;
      }
    }
  });
  return dx;
}

}  // namespace clipgrad::cpu
