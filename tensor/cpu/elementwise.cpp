#include "tensor/ops/elementwise.h"

namespace clipgrad::ops {

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add");
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch_floating(a.dtype(), "add", [&]<class T>() {
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    T* z = out.data<T>();
    int64_t n = a.numel();
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) z[i] = x[i] + y[i];
  });
  return out;
}

void add_inplace(Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add_inplace");
  dispatch_floating(a.dtype(), "add_inplace", [&]<class T>() {
    T* x = a.data<T>();
    const T* y = b.data<T>();
    int64_t n = a.numel();
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  });
}

Tensor scale(const Tensor& a, double factor) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch_floating(a.dtype(), "scale", [&]<class T>() {
    const T* x = a.data<T>();
    T* z = out.data<T>();
    T f = static_cast<T>(factor);
    int64_t n = a.numel();
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) z[i] = x[i] * f;
  });
  return out;
}

}  // namespace clipgrad::ops
