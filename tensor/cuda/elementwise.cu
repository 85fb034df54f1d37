// The CUDA kernels of the elementwise family (tensor/ops/elementwise.h), the
// twin of tensor/cpu/elementwise.cpp: broadcasting binary ops, unary ops and
// their backwards, broadcast_to and its adjoint sum_to_shape, f32 and f64;
// convert, any dtype to any (tensor/element_convert.h, as on the CPU).
//
// Every kernel is one grid-stride loop, one output element per thread per
// step: 256-thread blocks (8 warps; enough resident warps per SM to hide
// memory latency, a multiple of the warp), grid from grid_for (at most
// 524k blocks; the loop covers the rest). Memory-bound, coalesced: thread i
// writes element i. Compiled without FMA contraction (CMakeLists.txt), so
// each element is computed with the same roundings as the CPU kernel; only
// the math library's exp/log/erf (CUDA's, within 2 ulp) differ from glibc's.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/cuda/device_tensor.h"
#include "tensor/element_convert.h"

namespace clipgrad::cuda {

namespace {

constexpr double kQuickGeluAlpha = 1.702;

// How out's flat index maps to an operand right-aligned into out's shape:
// the operand's element stride along each out dim, 0 where it is broadcast.
struct BroadcastMap {
  int rank = 0;
  DimArray out_sizes{};
  DimArray strides{};
};

// The dims of an input that sum_to_shape folds into one output element.
struct FoldMap {
  int rank = 0;             // the input's rank; the output shape is right-aligned into it
  DimArray in_strides{};    // the input's element strides
  DimArray out_sizes{};     // the output's sizes, padded with leading 1s
  DimArray folded_sizes{};  // the input's size where the output has 1, else 1
};

enum class BinaryOp { Add, Sub, Mul, Div, First };

enum class UnaryOp { Scale, Exp, Log, Rsqrt, Relu, Gelu, QuickGelu };

enum class BackwardOp { Rsqrt, Relu, Gelu, QuickGelu };

// ---- kernels ----

__device__ inline int64_t operand_offset(int64_t index, const BroadcastMap& map) {
  int64_t offset = 0;
  for (int k = map.rank - 1; k >= 0; --k) {
    const int64_t size = map.out_sizes.value[k];
    offset += (index % size) * map.strides.value[k];
    index /= size;
  }
  return offset;
}

// in [rows, m] -> partial [chunks, m]: partial[c, j] = sum of in[r, j] over the chunk's rows
template <class T>
__global__ void column_chunk_sums_kernel(const T* in, double* partial, int64_t rows, int64_t m) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, chunk = blockIdx.y;
  if (j >= m) return;
  const int64_t end = smaller(rows, (chunk + 1) * kRowChunk);
  double acc = 0;
  for (int64_t r = chunk * kRowChunk; r < end; ++r) acc += in[r * m + j];
  partial[chunk * m + j] = acc;
}

// in [in shape] -> out [out shape]: out[o] = sum of the inputs broadcast from o, in increasing index
template <class T>
__global__ void fold_kernel(const T* in, T* out, FoldMap map, int64_t m, int64_t per_output) {
  CLIPGRAD_GRID_STRIDE(o, m) {
    int64_t base = 0, rest = o;
    for (int k = map.rank - 1; k >= 0; --k) {
      base += (rest % map.out_sizes.value[k]) * map.in_strides.value[k];
      rest /= map.out_sizes.value[k];
    }
    double acc = 0;
    for (int64_t t = 0; t < per_output; ++t) {
      int64_t offset = base, folded = t;
      for (int k = map.rank - 1; k >= 0; --k) {
        const int64_t size = map.folded_sizes.value[k];
        if (size == 1) continue;
        offset += (folded % size) * map.in_strides.value[k];
        folded /= size;
      }
      acc += in[offset];
    }
    out[o] = static_cast<T>(acc);
  }
}

template <BinaryOp kOp, class T>
__device__ inline T apply(T u, T v) {
  if constexpr (kOp == BinaryOp::Add) return u + v;
  if constexpr (kOp == BinaryOp::Sub) return u - v;
  if constexpr (kOp == BinaryOp::Mul) return u * v;
  if constexpr (kOp == BinaryOp::Div) return u / v;
  return u;  // First: broadcast_to
}

// z [n] = op(x, y), x and y of z's shape.
template <BinaryOp kOp, class T>
__global__ void binary_same_shape_kernel(const T* x, const T* y, T* z, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) z[i] = apply<kOp>(x[i], y[i]);
}

// z [out shape] = op(x, y), each operand read through its broadcast map.
template <BinaryOp kOp, class T>
__global__ void binary_broadcast_kernel(const T* x, BroadcastMap map_x, const T* y, BroadcastMap map_y, T* z,
                                        int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) z[i] = apply<kOp>(x[operand_offset(i, map_x)], y[operand_offset(i, map_y)]);
}

template <UnaryOp kOp, class T>
__device__ inline T apply_unary(T v, T factor) {
  if constexpr (kOp == UnaryOp::Scale) return v * factor;
  if constexpr (kOp == UnaryOp::Exp) return ::exp(v);
  if constexpr (kOp == UnaryOp::Log) return ::log(v);
  if constexpr (kOp == UnaryOp::Rsqrt) return T(1) / ::sqrt(v);  // not rsqrt(): the CPU divides by a rounded sqrt
  if constexpr (kOp == UnaryOp::Relu) return v > T(0) ? v : T(0);
  if constexpr (kOp == UnaryOp::Gelu) return T(0.5) * v * (T(1) + ::erf(v * T(std::numbers::sqrt2 / 2)));
  return v / (T(1) + ::exp(-T(kQuickGeluAlpha) * v));  // QuickGelu
}

// z [n] = op(x [n])
template <UnaryOp kOp, class T>
__global__ void unary_kernel(const T* x, T* z, int64_t n, T factor) {
  CLIPGRAD_GRID_STRIDE(i, n) z[i] = apply_unary<kOp>(x[i], factor);
}

template <BackwardOp kOp, class T>
__device__ inline T apply_backward(T g, T s) {
  if constexpr (kOp == BackwardOp::Rsqrt) return T(-0.5) * g * s * s * s;  // s = y = x^(-1/2)
  if constexpr (kOp == BackwardOp::Relu) return s > T(0) ? g : T(0);
  if constexpr (kOp == BackwardOp::Gelu) {
    const T cdf = T(0.5) * (T(1) + ::erf(s * T(std::numbers::sqrt2 / 2)));
    const T pdf = ::exp(T(-0.5) * s * s) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
    return g * (cdf + s * pdf);
  }
  const T sig = T(1) / (T(1) + ::exp(-T(kQuickGeluAlpha) * s));  // QuickGelu
  return g * (sig + T(kQuickGeluAlpha) * s * sig * (T(1) - sig));
}

// z [n] = op(grad_output [n], saved [n])
template <BackwardOp kOp, class T>
__global__ void unary_backward_kernel(const T* g, const T* s, T* z, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) z[i] = apply_backward<kOp>(g[i], s[i]);
}

// x [n] += y [n]
template <class T>
__global__ void add_inplace_kernel(T* x, const T* y, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) x[i] += y[i];
}

template <class T>
__global__ void fill_kernel(T* x, T value, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) x[i] = value;
}

template <class T>
__global__ void add_scalar_inplace_kernel(T* x, double value, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) x[i] = convert_element<T>(convert_element<double>(x[i]) + value);
}

template <class To, class From>
__global__ void convert_kernel(const From* x, To* out, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) out[i] = convert_element<To>(x[i]);
}

// ---- launchers ----

BroadcastMap broadcast_map(const Shape& shape, const Shape& out_shape) {
  BroadcastMap map;
  map.rank = static_cast<int>(out_shape.size());
  const size_t offset = out_shape.size() - shape.size();
  int64_t stride = 1;
  for (size_t k = out_shape.size(); k-- > 0;) {
    map.out_sizes.value[k] = out_shape[k];
    map.strides.value[k] = 0;
    if (k >= offset) {
      const int64_t size = shape[k - offset];
      map.strides.value[k] = size == 1 ? 0 : stride;
      stride *= size;
    }
  }
  return map;
}

template <BinaryOp kOp>
void binary_into(const Tensor& a, const Tensor& b, Tensor& out, const char* name) {
  const int64_t n = out.numel();
  dispatch_floating(a.dtype(), name, [&]<class T>() {  // the dtype is checked even when there is nothing to do
    if (n == 0) return;
    const T* x = device_data<T>(a);
    const T* y = device_data<T>(b);
    T* z = device_data<T>(out);
    if (a.shape() == out.shape() && b.shape() == out.shape()) {
      launch("binary_same_shape_kernel", binary_same_shape_kernel<kOp, T>, {grid_for(n), kThreads}, x, y, z, n);
    } else {
      check_rank_limit(out.dim(), name);
      launch("binary_broadcast_kernel", binary_broadcast_kernel<kOp, T>, {grid_for(n), kThreads}, x,
             broadcast_map(a.shape(), out.shape()), y, broadcast_map(b.shape(), out.shape()), z, n);
    }
  });
}

template <BinaryOp kOp>
Tensor binary(const Tensor& a, const Tensor& b, const char* name) {
  Tensor out = Tensor::empty(ops::broadcast_shape(a.shape(), b.shape()), a.dtype(), Device::CUDA);
  binary_into<kOp>(a, b, out, name);
  return out;
}

template <UnaryOp kOp>
Tensor unary(const Tensor& x, const char* name, double factor = 1.0) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    const int64_t n = x.numel();
    if (n == 0) return;
    launch("unary_kernel", unary_kernel<kOp, T>, {grid_for(n), kThreads}, device_data<T>(x), device_data<T>(out), n,
           static_cast<T>(factor));
  });
  return out;
}

template <BackwardOp kOp>
Tensor unary_backward(const Tensor& grad_output, const Tensor& saved, const char* name) {
  Tensor out = Tensor::empty(saved.shape(), saved.dtype(), Device::CUDA);
  dispatch_floating(saved.dtype(), name, [&]<class T>() {
    const int64_t n = saved.numel();
    if (n == 0) return;
    launch("unary_backward_kernel", unary_backward_kernel<kOp, T>, {grid_for(n), kThreads}, device_data<T>(grad_output),
           device_data<T>(saved), device_data<T>(out), n);
  });
  return out;
}

template <class T>
void sum_columns(const Tensor& x, Tensor& out, int64_t m) {
  const int64_t rows = x.numel() / m, chunks = (rows + kRowChunk - 1) / kRowChunk;
  Tensor partial = Tensor::empty({chunks, m}, DType::F64, Device::CUDA);
  const dim3 grid(static_cast<unsigned>((m + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
  if (chunks > 65535)
    throw std::invalid_argument("sum_to_shape: " + str(rows) + " rows are more than CUDA's grid takes");
  launch("column_chunk_sums_kernel", column_chunk_sums_kernel<T>, {grid, kThreads}, device_data<T>(x),
         device_data<double>(partial), rows, m);
  column_totals(partial, out);
}

template <class T>
void fold_into(const Tensor& x, Tensor& out) {
  const Shape& in_shape = x.shape();
  const Shape& shape = out.shape();
  check_rank_limit(x.dim(), "sum_to_shape");
  FoldMap map;
  map.rank = static_cast<int>(x.dim());
  const size_t offset = in_shape.size() - shape.size();
  int64_t stride = 1;
  for (size_t k = in_shape.size(); k-- > 0;) {
    const int64_t out_size = k >= offset ? shape[k - offset] : 1;
    map.in_strides.value[k] = stride;
    map.out_sizes.value[k] = out_size;
    map.folded_sizes.value[k] = out_size == 1 ? in_shape[k] : 1;
    stride *= in_shape[k];
  }
  const int64_t m = out.numel();
  launch("fold_kernel", fold_kernel<T>, {grid_for(m), kThreads}, device_data<T>(x), device_data<T>(out), map, m,
         x.numel() / m);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Add>(a, b, "add"); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Sub>(a, b, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Mul>(a, b, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Div>(a, b, "div"); }

void add_inplace(Tensor& a, const Tensor& b) {
  dispatch_floating(a.dtype(), "add_inplace", [&]<class T>() {
    const int64_t n = a.numel();
    if (n == 0) return;
    launch("add_inplace_kernel", add_inplace_kernel<T>, {grid_for(n), kThreads}, device_data<T>(a), device_data<T>(b),
           n);
  });
}

void add_scalar_inplace(Tensor& a, double value) {
  const int64_t n = a.numel();
  if (n == 0) return;
  dispatch_any(a.dtype(), [&]<class T>() {
    launch("add_scalar_inplace_kernel", add_scalar_inplace_kernel<T>, {grid_for(n), kThreads}, device_data<T>(a), value,
           n);
  });
}

Tensor convert(const Tensor& x, DType dtype) {
  Tensor out = Tensor::empty(x.shape(), dtype, Device::CUDA);
  const int64_t n = x.numel();
  if (n == 0) return out;
  dispatch_any(x.dtype(), [&]<class From>() {
    dispatch_any(dtype, [&]<class To>() {
      launch("convert_kernel", convert_kernel<To, From>, {grid_for(n), kThreads}, device_data<From>(x),
             device_data<To>(out), n);
    });
  });
  return out;
}

void fill(Tensor& a, double value) {
  dispatch_floating(a.dtype(), "fill", [&]<class T>() {
    const int64_t n = a.numel();
    if (n == 0) return;
    launch("fill_kernel", fill_kernel<T>, {grid_for(n), kThreads}, device_data<T>(a), static_cast<T>(value), n);
  });
}

Tensor scale(const Tensor& a, double factor) { return unary<UnaryOp::Scale>(a, "scale", factor); }

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  Tensor out = Tensor::empty(shape, x.dtype(), Device::CUDA);
  binary_into<BinaryOp::First>(x, x, out, "broadcast_to");
  return out;
}

Tensor exp(const Tensor& x) { return unary<UnaryOp::Exp>(x, "exp"); }
Tensor log(const Tensor& x) { return unary<UnaryOp::Log>(x, "log"); }
Tensor rsqrt(const Tensor& x) { return unary<UnaryOp::Rsqrt>(x, "rsqrt"); }
Tensor relu(const Tensor& x) { return unary<UnaryOp::Relu>(x, "relu"); }
Tensor gelu(const Tensor& x) { return unary<UnaryOp::Gelu>(x, "gelu"); }
Tensor quick_gelu(const Tensor& x) { return unary<UnaryOp::QuickGelu>(x, "quick_gelu"); }

Tensor rsqrt_backward(const Tensor& g, const Tensor& y) {
  return unary_backward<BackwardOp::Rsqrt>(g, y, "rsqrt_backward");
}
Tensor relu_backward(const Tensor& g, const Tensor& x) {
  return unary_backward<BackwardOp::Relu>(g, x, "relu_backward");
}
Tensor gelu_backward(const Tensor& g, const Tensor& x) {
  return unary_backward<BackwardOp::Gelu>(g, x, "gelu_backward");
}
Tensor quick_gelu_backward(const Tensor& g, const Tensor& x) {
  return unary_backward<BackwardOp::QuickGelu>(g, x, "quick_gelu_backward");
}

void check_rank_limit(int64_t rank, const char* op) {
  if (rank > kMaxDims)
    throw std::invalid_argument(std::string(op) + ": CUDA kernels take tensors of at most " + str(kMaxDims) +
                                " dims, got " + str(rank));
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  const int64_t n = x.numel(), m = shape_numel(shape);
  if (m == 1) return sum_all(x).reshape(shape);
  Tensor out = Tensor::zeros(shape, x.dtype(), Device::CUDA);
  if (m == 0 || n == 0) return out;
  dispatch_floating(x.dtype(), "sum_to_shape", [&]<class T>() {
    if (ops::is_trailing(shape, x.shape())) {
      sum_columns<T>(x, out, m);
    } else {
      fold_into<T>(x, out);
    }
  });
  return out;
}

}  // namespace clipgrad::cuda
