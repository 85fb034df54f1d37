// The CUDA kernels of the pool family (tensor/ops/conv.h), the twin of
// tensor/cpu/pool.cpp: avg_pool2d and its backward, non-overlapping
// kernel x kernel windows (stride = kernel), trailing rows/columns that do
// not fill a window dropped, as in the CPU kernel.
//
// A thread per output element (forward) or per input element (backward),
// grid-stride, 256-thread blocks; no thread shares an output, so no atomics.
// The forward adds a window in the CPU's order (row by row, left to right)
// in the element type, then scales: the same bits as the CPU.
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

// ---- kernels ----

// x [planes, H, W] -> out [planes, H / k, W / k]
template <class T>
__global__ void avg_pool_kernel(const T* x, T* out, int64_t planes, int64_t height, int64_t width, int64_t kernel) {
  const int64_t out_h = height / kernel, out_w = width / kernel;
  const T inv_area = T(1) / T(kernel * kernel);
  CLIPGRAD_GRID_STRIDE(i, planes * out_h * out_w) {
    const int64_t ox = i % out_w, oy = i / out_w % out_h, plane = i / (out_w * out_h);
    const T* window = x + plane * height * width + oy * kernel * width + ox * kernel;
    T acc = T(0);
    for (int64_t ky = 0; ky < kernel; ++ky)
      for (int64_t kx = 0; kx < kernel; ++kx) acc += window[ky * width + kx];
    out[i] = acc * inv_area;
  }
}

// grad [planes, H / k, W / k] -> dx [planes, H, W]: each input gets its window's gradient / k^2
template <class T>
__global__ void avg_pool_backward_kernel(const T* grad, T* dx, int64_t planes, int64_t height, int64_t width,
                                         int64_t kernel) {
  const int64_t out_h = height / kernel, out_w = width / kernel;
  const T inv_area = T(1) / T(kernel * kernel);
  CLIPGRAD_GRID_STRIDE(i, planes * height * width) {
    const int64_t ix = i % width, iy = i / width % height, plane = i / (width * height);
    const bool pooled = iy < out_h * kernel && ix < out_w * kernel;
    dx[i] = pooled ? grad[(plane * out_h + iy / kernel) * out_w + ix / kernel] * inv_area : T(0);
  }
}

// ---- launchers ----

}  // namespace

Tensor avg_pool2d(const Tensor& x, int64_t kernel) {
  const int64_t planes = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  Tensor out = Tensor::empty({x.shape()[0], x.shape()[1], H / kernel, W / kernel}, x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    if (out.numel() == 0) return;
    launch("avg_pool_kernel", avg_pool_kernel<T>, {grid_for(out.numel()), kThreads}, device_data<T>(x),
           device_data<T>(out), planes, H, W, kernel);
  });
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, int64_t kernel) {
  const int64_t planes = input_shape[0] * input_shape[1], H = input_shape[2], W = input_shape[3];
  Tensor dx = Tensor::empty(input_shape, grad.dtype(), Device::CUDA);
  dispatch_floating(grad.dtype(), "avg_pool2d_backward", [&]<class T>() {
    if (dx.numel() == 0) return;
    launch("avg_pool_backward_kernel", avg_pool_backward_kernel<T>, {grid_for(dx.numel()), kThreads},
           device_data<T>(grad), device_data<T>(dx), planes, H, W, kernel);
  });
  return dx;
}

}  // namespace clipgrad::cuda
