// What every kernel file of tensor/cuda/ shares: typed device pointers of
// tensors, launch sizes, shapes passed by value to kernels, the one set of
// warp and block reductions, and the fixed-order sums several families use.
// Every reduction has a fixed order and there are no atomics anywhere: the
// same inputs give the same bits on every run. Included by kernel files only.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/api.h"
#include "cuda/check.h"
#include "cuda/launch.h"
#include "cuda/stream.h"
#include "tensor/cuda/kernels.h"
#include "tensor/shape_rules.h"
#include "tensor/tensor.h"

namespace clipgrad::cuda {

constexpr int kThreads = 256;  // threads per block of the element-wise and row kernels: 8 warps
constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = kThreads / kWarp;
constexpr unsigned kFullWarp = 0xffffffffu;  // the mask of a warp collective that every lane joins
constexpr int kMaxDims = 12;                 // the rank limit of the broadcasting and permute kernels

// The tensor's device memory as T*, after checking that it is on the device
// and has dtype T (Tensor::data<T>() is host-only and throws for a CUDA tensor).
template <class T>
T* device_data(Tensor& t) {
  if (t.device() != Device::CUDA)
    throw std::invalid_argument(std::string("a CUDA kernel was handed a ") + device_name(t.device()) + " tensor " +
                                shape_str(t.shape()));
  if (t.dtype() != dtype_of<T>())
    throw std::invalid_argument(std::string("tensor has dtype ") + dtype_name(t.dtype()) + ", accessed as " +
                                dtype_name(dtype_of<T>()));
  return static_cast<T*>(t.raw_data());
}
template <class T>
const T* device_data(const Tensor& t) {
  return device_data<T>(const_cast<Tensor&>(t));
}
// A tensor's device memory when it is defined, else null (optional operands).
template <class T>
const T* device_data_or_null(const Tensor& t) {
  return t.defined() ? device_data<T>(t) : nullptr;
}

// Blocks for a grid-stride loop over n items: enough to fill an H200 several
// times over (132 SMs x 2048 threads), never more than the items need.
inline unsigned grid_for(int64_t items, int64_t per_block = kThreads) {
  const int64_t blocks = (items + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 8 ? 65535 * 8 : blocks));
}

inline std::string str(int64_t value) { return std::to_string(value); }

// rank <= kMaxDims, else an error naming the op (the kernels pass shapes by value in DimArray).
void check_rank_limit(int64_t rank, const char* op);  // elementwise.cu

// A shape and per-dim element strides, by value into a kernel.
struct DimArray {
  int64_t value[kMaxDims];
};

// x viewed as lines along one dim ([outer, size, inner]; line l holds the
// `size` elements at base(l) + k * inner).
struct LineMap {
  int64_t lines, size, inner;
  __host__ __device__ int64_t base(int64_t line) const { return (line / inner) * size * inner + line % inner; }
};
inline LineMap line_map(const Shape& shape, int64_t dim, const char* op) {
  const ops::Lines lines = ops::lines_along(shape, dim, op);
  return {lines.outer * lines.inner, lines.size, lines.inner};
}
inline unsigned line_grid(int64_t lines) { return grid_for(lines, kWarpsPerBlock); }

// ---- fixed-order sums shared by several families (fixed_order_sums.cu) ----

// The CPU's chunk of rows for column sums (tensor/cpu/parallel.h, sum_rows_in_chunks).
constexpr int64_t kRowChunk = 256;
// The column sums of partial f64 [chunks, m], chunks added in order, into out [m].
void column_totals(const Tensor& partial, Tensor& out);
// x [n] (kSquare: x^2) summed per fixed chunk of `chunk` elements into f64 [chunks] (a block per chunk).
Tensor chunk_sums(const Tensor& x, int64_t chunk, bool square);
// *total = the sum of partial [count] in order, by one thread (f32 or f64 total).
void ordered_total(const Tensor& partial, double* total);
void ordered_total(const Tensor& partial, Tensor& total);

#ifdef CLIPGRAD_DEVICE_CODE

#define CLIPGRAD_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// One warp per line: every lane of a warp sees the same `line`, so warp sums are legal inside.
#define CLIPGRAD_FOR_EACH_LINE(line, lines)                                                     \
  for (int64_t line = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; line < (lines); \
       line += int64_t(gridDim.x) * blockDim.x / kWarp)

__host__ __device__ inline int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

// The larger of two values; a NaN loses to a number (fmax's rule), so a max
// over lanes does not depend on which lane held the NaN.
__device__ inline float max_of(float a, float b) { return fmaxf(a, b); }
__device__ inline double max_of(double a, double b) { return fmax(a, b); }

// The value of lane (this lane ^ lane_mask). Overload it for a struct to
// reduce structs (fused/contrastive.cu's online log-sum-exp).
__device__ inline float shuffle_xor(float value, int lane_mask) { return __shfl_xor_sync(kFullWarp, value, lane_mask); }
__device__ inline double shuffle_xor(double value, int lane_mask) {
  return __shfl_xor_sync(kFullWarp, value, lane_mask);
}

// Combines the 32 lanes' values with `combine` in a fixed butterfly order
// (lane distance 16, 8, 4, 2, 1); every lane ends with the result. The one
// warp reduction of the backend: call from all 32 lanes.
template <class T, class Combine>
__device__ inline T warp_reduce(T value, Combine combine) {
  for (int lane_mask = kWarp / 2; lane_mask > 0; lane_mask /= 2) value = combine(value, shuffle_xor(value, lane_mask));
  return value;
}
template <class T>
__device__ inline T warp_sum(T value) {
  return warp_reduce(value, [](T a, T b) { return a + b; });
}
template <class T>
__device__ inline T warp_max(T value) {
  return warp_reduce(value, [](T a, T b) { return max_of(a, b); });
}

// Sum over a block of kBlockThreads threads (fixed order: each warp's
// butterfly, then warp 0's butterfly over the warp sums); every thread gets
// the total. Contains __syncthreads: call from every thread of the block.
template <int kBlockThreads>
__device__ inline double block_sum(double value) {
  static_assert(kBlockThreads % kWarp == 0 && kBlockThreads / kWarp <= kWarp, "block_sum: 1 to 32 full warps");
  constexpr int kWarps = kBlockThreads / kWarp;
  __shared__ double warp_totals[kWarps];
  __shared__ double total;
  value = warp_sum(value);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (lane == 0) warp_totals[warp] = value;
  __syncthreads();
  if (warp == 0) {
    const double partial = warp_sum(lane < kWarps ? warp_totals[lane] : 0.0);
    if (lane == 0) total = partial;
  }
  __syncthreads();
  const double result = total;
  __syncthreads();  // total and warp_totals may be reused by the next call
  return result;
}

#endif  // CLIPGRAD_DEVICE_CODE

}  // namespace clipgrad::cuda
