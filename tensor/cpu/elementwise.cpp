// The CPU kernels of the elementwise family (tensor/ops/elementwise.h): binary
// ops with numpy broadcasting (fast paths for equal shapes, a scalar and a
// trailing operand), unary ops and their backwards, broadcast_to and its
// adjoint sum_to_shape. The CUDA twin is tensor/cuda/elementwise.cu.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "tensor/cpu/fast_exp.h"
#include "tensor/element_convert.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

// The element strides with which an operand of `shape`, right-aligned into
// out_shape, is read at each out index: 0 along the dims it is broadcast on.
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape) {
  const size_t offset = out_shape.size() - shape.size();
  std::vector<int64_t> strides(out_shape.size(), 0);
  int64_t stride = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    strides[offset + k] = shape[k] == 1 ? 0 : stride;
    stride *= shape[k];
  }
  return strides;
}

// z = op(x, y) over out's shape, which a and b both broadcast to. An operand
// with as many elements as out has out's memory layout (only 1-dims differ).
template <class T, class Op>
void binary_into(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const T* x = a.data<T>();
  const T* y = b.data<T>();
  T* z = out.data<T>();
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool a_full = a.numel() == n, b_full = b.numel() == n;
  if (a_full && b_full) {
#pragma omp parallel for simd if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) z[i] = op(x[i], y[i]);
    return;
  }
  if (a_full && b.numel() == 1) {
    const T scalar = y[0];
#pragma omp parallel for simd if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) z[i] = op(x[i], scalar);
    return;
  }
  if (b_full && a.numel() == 1) {
    const T scalar = x[0];
#pragma omp parallel for simd if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) z[i] = op(scalar, y[i]);
    return;
  }
  if (a_full && ops::is_trailing(b.shape(), out.shape())) {
    const int64_t inner = b.numel(), rows = n / inner;
#pragma omp parallel for if (n > kParallelElements)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * inner;
      T* zr = z + r * inner;
#pragma omp simd
      for (int64_t j = 0; j < inner; ++j) zr[j] = op(xr[j], y[j]);
    }
    return;
  }
  if (b_full && ops::is_trailing(a.shape(), out.shape())) {
    const int64_t inner = a.numel(), rows = n / inner;
#pragma omp parallel for if (n > kParallelElements)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = y + r * inner;
      T* zr = z + r * inner;
#pragma omp simd
      for (int64_t j = 0; j < inner; ++j) zr[j] = op(x[j], yr[j]);
    }
    return;
  }
  // General case: one output row (last dim) at a time, each operand read at
  // its own stride along that row.
  const Shape& shape = out.shape();
  const int64_t rank = out.dim();
  const std::vector<int64_t> stride_a = broadcast_strides(a.shape(), shape);
  const std::vector<int64_t> stride_b = broadcast_strides(b.shape(), shape);
  const int64_t inner = shape.back(), rows = n / inner;
  const int64_t step_a = stride_a.back(), step_b = stride_b.back();
#pragma omp parallel for if (n > kParallelElements)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset_a = 0, offset_b = 0, rest = r;
    for (int64_t k = rank - 2; k >= 0; --k) {
      const int64_t index = rest % shape[k];
      rest /= shape[k];
      offset_a += index * stride_a[k];
      offset_b += index * stride_b[k];
    }
    T* zr = z + r * inner;
    for (int64_t j = 0; j < inner; ++j) zr[j] = op(x[offset_a + j * step_a], y[offset_b + j * step_b]);
  }
}

template <class Op>
Tensor binary(const Tensor& a, const Tensor& b, const char* name, Op op) {
  Tensor out = Tensor::empty(broadcast_shape(a.shape(), b.shape()), a.dtype());
  dispatch_floating(a.dtype(), name, [&]<class T>() { binary_into<T>(a, b, out, op); });
  return out;
}

template <class Op>
Tensor unary(const Tensor& x, const char* name, Op op) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    const T* in = x.data<T>();
    T* z = out.data<T>();
    const int64_t n = x.numel();
#pragma omp parallel for simd if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) z[i] = op(in[i]);
  });
  return out;
}

// grad_input = op(grad_output, saved), both of one shape.
template <class Op>
Tensor unary_backward(const Tensor& grad_output, const Tensor& saved, const char* name, Op op) {
  Tensor out = Tensor::empty(saved.shape(), saved.dtype());
  dispatch_floating(saved.dtype(), name, [&]<class T>() {
    const T* g = grad_output.data<T>();
    const T* s = saved.data<T>();
    T* z = out.data<T>();
    const int64_t n = saved.numel();
#pragma omp parallel for simd if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) z[i] = op(g[i], s[i]);
  });
  return out;
}

constexpr double kQuickGeluAlpha = 1.702;

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(a, b, "add", [](auto u, auto v) { return u + v; });
}

void add_inplace(Tensor& a, const Tensor& b) {
  dispatch_floating(a.dtype(), "add_inplace", [&]<class T>() {
    T* x = a.data<T>();
    const T* y = b.data<T>();
    const int64_t n = a.numel();
#pragma omp parallel for simd if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  });
}

void fill(Tensor& a, double value) {
  dispatch_floating(a.dtype(), "fill", [&]<class T>() { std::fill_n(a.data<T>(), a.numel(), static_cast<T>(value)); });
}

void add_scalar_inplace(Tensor& a, double value) {
  dispatch_any(a.dtype(), [&]<class T>() {
    T* x = a.data<T>();
    const int64_t n = a.numel();
#pragma omp parallel for if (n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) x[i] = convert_element<T>(convert_element<double>(x[i]) + value);
  });
}

Tensor convert(const Tensor& x, DType dtype) {
  Tensor out = Tensor::empty(x.shape(), dtype);
  const int64_t n = x.numel();
  dispatch_any(x.dtype(), [&]<class From>() {
    dispatch_any(dtype, [&]<class To>() {
      const From* in = x.data<From>();
      To* converted = out.data<To>();
#pragma omp parallel for if (n > kParallelElements)
      for (int64_t i = 0; i < n; ++i) converted[i] = convert_element<To>(in[i]);
    });
  });
  return out;
}

Tensor scale(const Tensor& a, double factor) {
  return unary(a, "scale", [factor](auto u) { return u * static_cast<decltype(u)>(factor); });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(a, b, "sub", [](auto u, auto v) { return u - v; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(a, b, "mul", [](auto u, auto v) { return u * v; });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return binary(a, b, "div", [](auto u, auto v) { return u / v; });
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  Tensor out = Tensor::empty(shape, x.dtype());
  dispatch_floating(x.dtype(), "broadcast_to", [&]<class T>() { binary_into<T>(x, x, out, [](T u, T) { return u; }); });
  return out;
}

// x [...] -> shape, a shape x's broadcasts from and not equal to it (checked in tensor/ops).
Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  const int64_t n = x.numel(), m = shape_numel(shape);
  if (m == 1) return sum_all(x).reshape(shape);
  Tensor out = Tensor::zeros(shape, x.dtype());
  if (m == 0 || n == 0) return out;
  dispatch_floating(x.dtype(), "sum_to_shape", [&]<class T>() {
    const T* in = x.data<T>();
    T* z = out.data<T>();
    if (ops::is_trailing(shape, x.shape())) {
      // z[j] = sum over rows of in[row, j].
      std::vector<double> sums = sum_rows_in_chunks(n / m, m, [&](int64_t r, double* acc) {
        const T* row = in + r * m;
#pragma omp simd
        for (int64_t j = 0; j < m; ++j) acc[j] += row[j];
      });
      for (int64_t j = 0; j < m; ++j) z[j] = static_cast<T>(sums[j]);
      return;
    }
    // General case (e.g. [N, L, D] -> [N, L, 1]): one pass over x, each
    // element added to the output it was broadcast from.
    const Shape& in_shape = x.shape();
    const int64_t rank = x.dim();
    const std::vector<int64_t> stride_out = broadcast_strides(shape, in_shape);
    const int64_t inner = in_shape.back(), rows = n / inner, step = stride_out.back();
    std::vector<double> acc(m, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t offset = 0, rest = r;
      for (int64_t k = rank - 2; k >= 0; --k) {
        offset += (rest % in_shape[k]) * stride_out[k];
        rest /= in_shape[k];
      }
      const T* row = in + r * inner;
      for (int64_t j = 0; j < inner; ++j) acc[offset + j * step] += row[j];
    }
    for (int64_t i = 0; i < m; ++i) z[i] = static_cast<T>(acc[i]);
  });
  return out;
}

Tensor exp(const Tensor& x) {
  return unary(x, "exp", [](auto v) { return std::exp(v); });
}

Tensor log(const Tensor& x) {
  return unary(x, "log", [](auto v) { return std::log(v); });
}

Tensor rsqrt(const Tensor& x) {
  return unary(x, "rsqrt", [](auto v) { return decltype(v)(1) / std::sqrt(v); });
}

Tensor relu(const Tensor& x) {
  return unary(x, "relu", [](auto v) { return v > decltype(v)(0) ? v : decltype(v)(0); });
}

Tensor gelu(const Tensor& x) {
  return unary(x, "gelu", [](auto v) {
    using T = decltype(v);
    return T(0.5) * v * (T(1) + std::erf(v * T(std::numbers::sqrt2 / 2)));
  });
}

Tensor quick_gelu(const Tensor& x) {
  return unary(x, "quick_gelu", [](auto v) {
    using T = decltype(v);
    return v / (T(1) + exp_vectorisable(-T(kQuickGeluAlpha) * v));
  });
}

Tensor rsqrt_backward(const Tensor& grad_output, const Tensor& y) {
  // d/dx x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2
  return unary_backward(grad_output, y, "rsqrt_backward", [](auto g, auto s) {
    using T = decltype(s);
    return T(-0.5) * g * s * s * s;
  });
}

Tensor relu_backward(const Tensor& grad_output, const Tensor& x) {
  return unary_backward(grad_output, x, "relu_backward", [](auto g, auto s) {
    using T = decltype(s);
    return s > T(0) ? g : T(0);
  });
}

Tensor gelu_backward(const Tensor& grad_output, const Tensor& x) {
  // gelu'(x) = Phi(x) + x phi(x), Phi/phi the standard normal cdf/pdf.
  return unary_backward(grad_output, x, "gelu_backward", [](auto g, auto s) {
    using T = decltype(s);
    const T cdf = T(0.5) * (T(1) + std::erf(s * T(std::numbers::sqrt2 / 2)));
    const T pdf = std::exp(T(-0.5) * s * s) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
    return g * (cdf + s * pdf);
  });
}

Tensor quick_gelu_backward(const Tensor& grad_output, const Tensor& x) {
  // y = x s(a x): y' = s + a x s (1 - s)
  return unary_backward(grad_output, x, "quick_gelu_backward", [](auto g, auto s) {
    using T = decltype(s);
    const T sig = T(1) / (T(1) + exp_vectorisable(-T(kQuickGeluAlpha) * s));
    return g * (sig + T(kQuickGeluAlpha) * s * sig * (T(1) - sig));
  });
}

}  // namespace clipgrad::cpu
