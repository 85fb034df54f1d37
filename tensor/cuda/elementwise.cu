// Element-wise CUDA kernels: broadcasting binary ops, unary ops and their
// backwards (tensor/ops/elementwise.h), f32 and f64.
//
// Every kernel is one grid-stride loop, one output element per thread per
// step: 256-thread blocks (8 warps; enough resident warps per SM to hide
// memory latency, a multiple of the warp), grid from grid_for (at most
// 524k blocks; the loop covers the rest). Memory-bound, coalesced: thread i
// writes element i. Compiled without FMA contraction (CMakeLists.txt), so
// each element is computed with the same roundings as the CPU kernel; only
// the math library's exp/log/erf (CUDA's, within 2 ulp) differ from glibc's.
#include "tensor/cuda/device_tensor.h"
#include "tensor/cuda/kernels.h"

#include <cmath>
#include <numbers>

#include "tensor/shape_rules.h"

namespace clipgrad::cuda_kernels {

namespace {

constexpr double kQuickGeluAlpha = 1.702;

// How out's flat index maps to an operand right-aligned into out's shape:
// the operand's element stride along each out dim, 0 where it is broadcast.
struct BroadcastMap {
  int rank = 0;
  DimArray out_sizes{};
  DimArray strides{};
};

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

__device__ inline int64_t operand_offset(int64_t index, const BroadcastMap& map) {
  int64_t offset = 0;
  for (int k = map.rank - 1; k >= 0; --k) {
    const int64_t size = map.out_sizes.value[k];
    offset += (index % size) * map.strides.value[k];
    index /= size;
  }
  return offset;
}

enum class BinaryOp { Add, Sub, Mul, Div, First };

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

template <BinaryOp kOp>
void binary_into(const Tensor& a, const Tensor& b, Tensor& out, const char* name) {
  const int64_t n = out.numel();
  dispatch_floating(a.dtype(), name, [&]<class T>() {  // the dtype is checked even when there is nothing to do
    if (n == 0) return;
    const T* x = device_data<T>(a);
    const T* y = device_data<T>(b);
    T* z = device_data<T>(out);
    if (a.shape() == out.shape() && b.shape() == out.shape()) {
      binary_same_shape_kernel<kOp, T><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(x, y, z, n);
    } else {
      check_rank_limit(out.dim(), name);
      binary_broadcast_kernel<kOp, T><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(
          x, broadcast_map(a.shape(), out.shape()), y, broadcast_map(b.shape(), out.shape()), z, n);
    }
    CUDA_CHECK_LAUNCH(name);
  });
}

template <BinaryOp kOp>
Tensor binary(const Tensor& a, const Tensor& b, const char* name) {
  check_same_dtype(a, b, name);
  Tensor out = Tensor::empty(ops::broadcast_shape(a.shape(), b.shape()), a.dtype(), Device::CUDA);
  binary_into<kOp>(a, b, out, name);
  return out;
}

enum class UnaryOp { Scale, Exp, Log, Rsqrt, Relu, Gelu, QuickGelu };

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

template <UnaryOp kOp>
Tensor unary(const Tensor& x, const char* name, double factor = 1.0) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    const int64_t n = x.numel();
    if (n == 0) return;
    unary_kernel<kOp, T><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(device_data<T>(x), device_data<T>(out),
                                                                               n, static_cast<T>(factor));
    CUDA_CHECK_LAUNCH(name);
  });
  return out;
}

enum class BackwardOp { Rsqrt, Relu, Gelu, QuickGelu };

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

template <BackwardOp kOp>
Tensor unary_backward(const Tensor& grad_output, const Tensor& saved, const char* name) {
  check_same_shape(grad_output, saved, name);
  check_same_dtype(grad_output, saved, name);
  Tensor out = Tensor::empty(saved.shape(), saved.dtype(), Device::CUDA);
  dispatch_floating(saved.dtype(), name, [&]<class T>() {
    const int64_t n = saved.numel();
    if (n == 0) return;
    unary_backward_kernel<kOp, T><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(
        device_data<T>(grad_output), device_data<T>(saved), device_data<T>(out), n);
    CUDA_CHECK_LAUNCH(name);
  });
  return out;
}

// x [n] += y [n]
template <class T>
__global__ void add_inplace_kernel(T* x, const T* y, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) x[i] += y[i];
}

Tensor add(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Add>(a, b, "add"); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Sub>(a, b, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Mul>(a, b, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) { return binary<BinaryOp::Div>(a, b, "div"); }

void add_inplace(Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "add_inplace");
  check_same_dtype(a, b, "add_inplace");
  dispatch_floating(a.dtype(), "add_inplace", [&]<class T>() {
    const int64_t n = a.numel();
    if (n == 0) return;
    add_inplace_kernel<T><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(device_data<T>(a), device_data<T>(b), n);
    CUDA_CHECK_LAUNCH("add_inplace");
  });
}

Tensor scale(const Tensor& a, double factor) { return unary<UnaryOp::Scale>(a, "scale", factor); }

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (ops::broadcast_shape(x.shape(), shape) != shape)
    throw std::invalid_argument("broadcast_to: shape " + shape_str(x.shape()) + " does not broadcast to " +
                                shape_str(shape));
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

Tensor rsqrt_backward(const Tensor& g, const Tensor& y) { return unary_backward<BackwardOp::Rsqrt>(g, y, "rsqrt_backward"); }
Tensor relu_backward(const Tensor& g, const Tensor& x) { return unary_backward<BackwardOp::Relu>(g, x, "relu_backward"); }
Tensor gelu_backward(const Tensor& g, const Tensor& x) { return unary_backward<BackwardOp::Gelu>(g, x, "gelu_backward"); }
Tensor quick_gelu_backward(const Tensor& g, const Tensor& x) {
  return unary_backward<BackwardOp::QuickGelu>(g, x, "quick_gelu_backward");
}

}  // namespace

void check_rank_limit(int64_t rank, const char* op) {
  if (rank > kMaxDims)
    throw std::invalid_argument(std::string(op) + ": CUDA kernels take tensors of at most " + str(kMaxDims) +
                                " dims, got " + str(rank));
}

void fill_elementwise_kernels(ops::Kernels& table) {
  table.add = &add;
  table.add_inplace = &add_inplace;
  table.scale = &scale;
  table.sub = &sub;
  table.mul = &mul;
  table.div = &div;
  table.broadcast_to = &broadcast_to;
  table.exp = &exp;
  table.log = &log;
  table.rsqrt = &rsqrt;
  table.relu = &relu;
  table.gelu = &gelu;
  table.quick_gelu = &quick_gelu;
  table.rsqrt_backward = &rsqrt_backward;
  table.relu_backward = &relu_backward;
  table.gelu_backward = &gelu_backward;
  table.quick_gelu_backward = &quick_gelu_backward;
}

}  // namespace clipgrad::cuda_kernels
