// The deterministic sums that several families share (declared in
// device_tensor.h), each accumulating in double in an order fixed by the
// shape, never by the timing: no atomics.
// - column_totals: partial [chunks, m] -> [m], a thread per column adding the
//   chunks in order (the second pass of bias and norm-gain gradients: the
//   CPU's chunks and order, so the same bits as tensor/cpu/parallel.h).
// - chunk_sums: a 256-thread block per fixed chunk sums it with block_sum's
//   fixed tree (sum_all, sum_squares: the CPU's chunk sizes; within a chunk
//   the order is a tree, not the CPU's sequence).
// - ordered_total: one thread adds the chunk sums in order.
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

// ---- kernels ----

// partial [chunks, m] -> out [m], chunks added in order
template <class T>
__global__ void column_totals_kernel(const double* partial, T* out, int64_t chunks, int64_t m) {
  CLIPGRAD_GRID_STRIDE(j, m) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c * m + j];
    out[j] = static_cast<T>(total);
  }
}

// x [n] -> partial [chunks]: each block sums one chunk (of x, or of x^2)
template <bool kSquare, class T>
__global__ void chunk_sums_kernel(const T* x, int64_t n, int64_t chunk, double* partial) {
  const int64_t begin = blockIdx.x * chunk, end = smaller(n, begin + chunk);
  double acc = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double value = x[i];
    acc += kSquare ? value * value : value;
  }
  acc = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// partial [count] -> total [], added in order by one thread
template <class Out>
__global__ void ordered_total_kernel(const double* partial, int64_t count, Out* total) {
  double sum = 0;
  for (int64_t c = 0; c < count; ++c) sum += partial[c];
  *total = static_cast<Out>(sum);
}

// ---- launchers ----

}  // namespace

// ---- launchers ----

void column_totals(const Tensor& partial, Tensor& out) {
  const int64_t chunks = partial.size(0), m = partial.size(1);
  if (m == 0) return;
  dispatch_floating(out.dtype(), "column_totals", [&]<class T>() {
    launch("column_totals_kernel", column_totals_kernel<T>, {grid_for(m), kThreads}, device_data<double>(partial),
           device_data<T>(out), chunks, m);
  });
}

Tensor chunk_sums(const Tensor& x, int64_t chunk, bool square) {
  const int64_t n = x.numel(), chunks = (n + chunk - 1) / chunk;
  Tensor partial = Tensor::empty({chunks}, DType::F64, Device::CUDA);
  if (chunks == 0) return partial;
  if (chunks > int64_t(INT32_MAX)) throw std::invalid_argument("chunk_sums: tensor too large for one grid");
  dispatch_floating(x.dtype(), "chunk_sums", [&]<class T>() {
    auto kernel = square ? chunk_sums_kernel<true, T> : chunk_sums_kernel<false, T>;
    launch("chunk_sums_kernel", kernel, {static_cast<unsigned>(chunks), kThreads}, device_data<T>(x), n, chunk,
           device_data<double>(partial));
  });
  return partial;
}

void ordered_total(const Tensor& partial, double* total) {
  launch("ordered_total_kernel", ordered_total_kernel<double>, {1, 1}, device_data<double>(partial), partial.numel(),
         total);
}

void ordered_total(const Tensor& partial, Tensor& total) {
  dispatch_floating(total.dtype(), "ordered_total", [&]<class T>() {
    launch("ordered_total_kernel", ordered_total_kernel<T>, {1, 1}, device_data<double>(partial), partial.numel(),
           device_data<T>(total));
  });
}

}  // namespace clipgrad::cuda
