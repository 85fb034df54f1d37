// What every CUDA kernel file of this folder shares: typed device pointers of
// tensors, launch sizes, shapes passed by value to kernels, and the
// fixed-order warp and block sums that keep every reduction deterministic
// (no atomics anywhere: the same inputs give the same bits on every run).
// Included by .cu files only.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/stream.h"
#include "tensor/tensor.h"

namespace clipgrad::cuda_kernels {

constexpr int kThreads = 256;       // threads per block of the element-wise and row kernels
constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = kThreads / kWarp;
constexpr int kMaxDims = 12;        // the rank limit of the broadcasting and permute kernels

// The tensor's memory as T*, after checking the dtype (Tensor::data<T>() is host-only).
template <class T>
T* device_data(Tensor& t) {
  if (t.dtype() != dtype_of<T>())
    throw std::invalid_argument(std::string("tensor has dtype ") + dtype_name(t.dtype()) + ", accessed as " +
                                dtype_name(dtype_of<T>()));
  return static_cast<T*>(t.raw_data());
}
template <class T>
const T* device_data(const Tensor& t) {
  return device_data<T>(const_cast<Tensor&>(t));
}

// Blocks for a grid-stride loop over n items: enough to fill an H200 several
// times over (132 SMs x 2048 threads), never more than the items need.
inline unsigned grid_for(int64_t items, int64_t per_block = kThreads) {
  const int64_t blocks = (items + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 8 ? 65535 * 8 : blocks));
}

inline std::string str(int64_t value) { return std::to_string(value); }

void check_rank_limit(int64_t rank, const char* op);                      // rank <= kMaxDims

// A shape and per-dim element strides, by value into a kernel.
struct DimArray {
  int64_t value[kMaxDims];
};

// x viewed as lines along one dim ([outer, size, inner]; line l holds the
// `size` elements at base(l) + k * inner). Throws the CPU's message for a bad dim.
struct LineMap {
  int64_t lines, size, inner;
#ifdef __CUDACC__
  __device__ int64_t base(int64_t line) const { return (line / inner) * size * inner + line % inner; }
#endif
};
LineMap line_map(const Shape& shape, int64_t dim, const char* op);  // softmax.cu
inline unsigned line_grid(int64_t lines) { return grid_for(lines, kWarpsPerBlock); }

// The column sums of partial f64 [chunks, m], chunks added in order, into out [m] (sums.cu).
void column_totals(const Tensor& partial, Tensor& out, const char* op);

#ifdef __CUDACC__

#define CLIPGRAD_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// One warp per line: every lane of a warp sees the same `line`, so warp sums are legal inside.
#define CLIPGRAD_FOR_EACH_LINE(line, lines)                                                          \
  for (int64_t line = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; line < (lines); \
       line += int64_t(gridDim.x) * blockDim.x / kWarp)

__host__ __device__ inline int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

// Sum over the 32 lanes of a warp in a fixed butterfly order: every lane gets the total.
__device__ inline double warp_sum(double value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}
template <class T>
__device__ inline T warp_max(T value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const T other = __shfl_xor_sync(0xffffffffu, value, offset);
    value = other > value ? other : value;
  }
  return value;
}

// Sum over a block of kThreads threads (fixed order: warps, then the warp
// sums); every thread gets the total. Contains __syncthreads: call from all threads.
__device__ inline double block_sum(double value) {
  __shared__ double warp_totals[kWarpsPerBlock];
  __shared__ double total;
  value = warp_sum(value);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (lane == 0) warp_totals[warp] = value;
  __syncthreads();
  if (warp == 0) {
    double partial = lane < kWarpsPerBlock ? warp_totals[lane] : 0.0;
    partial = warp_sum(partial);
    if (lane == 0) total = partial;
  }
  __syncthreads();
  const double result = total;
  __syncthreads();  // total and warp_totals may be reused by the next call
  return result;
}

#endif  // __CUDACC__

}  // namespace clipgrad::cuda_kernels
