// Toy kernels in the style of tensor/cuda/ (kernels first, then launchers),
// compiled as C++ with CLIPGRAD_CUDA_EMULATE: nothing here knows it is not
// compiled by nvcc, except that dynamic shared memory is declared with
// CLIPGRAD_DYNAMIC_SHARED (cuda/api.h).
#include "toy_kernels.h"

#include <cmath>
#include <stdexcept>

#include "cuda/check.h"

namespace clipgrad::toy {

namespace {

// ---- kernels ----

__global__ void scale_add_kernel(const float* x, float* y, float a, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = a * x[i] + y[i];
}

// The sum of value over the block, valid in thread 0 (blockDim.x a power of 2, <= 1024).
__device__ float tree_sum(float value) {
  __shared__ float partial[1024];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  const float total = partial[0];
  __syncthreads();  // partial is reused by the next call
  return total;
}

__global__ void block_sums_kernel(const float* x, float* partial, int64_t n) {
  const int64_t chunk = (n + gridDim.x - 1) / gridDim.x, begin = blockIdx.x * chunk;
  const int64_t end = begin + chunk < n ? begin + chunk : n;
  float value = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) value += x[i];
  const float total = tree_sum(value);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

template <class T>
__global__ void warp_sums_kernel(const T* x, T* xor_sums, T* down_sums) {
  const int lane = threadIdx.x % 32;
  const int64_t warp = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  const T value = x[warp * 32 + lane];
  T butterfly = value, tree = value;
  for (int offset = 16; offset > 0; offset /= 2) butterfly += __shfl_xor_sync(0xffffffff, butterfly, offset);
  for (int offset = 16; offset > 0; offset /= 2) tree += __shfl_down_sync(0xffffffff, tree, offset);
  xor_sums[warp * 32 + lane] = butterfly;
  if (lane == 0) down_sums[warp] = tree;
}

__global__ void warp_votes_kernel(const int* x, int* scan, int* broadcast, unsigned* ballot, int* all_any) {
  const int lane = threadIdx.x;
  int sum = x[lane];
  for (int offset = 1; offset < 32; offset *= 2) {
    const int before = __shfl_up_sync(0xffffffff, sum, offset);
    if (lane >= offset) sum += before;
  }
  scan[lane] = sum;
  broadcast[lane] = __shfl_sync(0xffffffff, x[lane], 31 - lane);
  const unsigned positive = __ballot_sync(0xffffffff, x[lane] > 0);
  const int all = __all_sync(0xffffffff, x[lane] > -100), any = __any_sync(0xffffffff, x[lane] > 1000);
  __syncwarp();
  if (lane == 0) {
    *ballot = positive;
    all_any[0] = all;
    all_any[1] = any;
  }
}

__global__ void reverse_chunks_kernel(const float* x, float* y, int per_block) {
  CLIPGRAD_DYNAMIC_SHARED(float, tile);  // [per_block]
  const int64_t base = int64_t(blockIdx.x) * per_block;
  for (int i = threadIdx.x; i < per_block; i += blockDim.x) tile[i] = x[base + i];
  __syncthreads();
  for (int i = threadIdx.x; i < per_block; i += blockDim.x) y[base + i] = tile[per_block - 1 - i];
}

__global__ void atomic_histogram_kernel(const int* values, int64_t n, int bins, unsigned* counts, float* float_total,
                                        double* double_total, int* largest) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    atomicAdd(&counts[values[i] % bins], 1u);
    atomicAdd(float_total, float(values[i]));
    atomicAdd(double_total, double(values[i]));
    atomicMax(largest, values[i]);
  }
}

__global__ void mismatched_barrier_kernel(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void barrier_after_exit_kernel(int* out) {
  if (threadIdx.x >= 32) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void shuffle_with_exited_lane_kernel(float* out) {
  if (threadIdx.x % 32 == 31) return;
  const float value = __shfl_xor_sync(0xffffffff, float(threadIdx.x), 1);
  out[threadIdx.x] = value;
}

__global__ void collectives_of_two_kinds_kernel(int* out) {
  if (threadIdx.x % 2 == 0) {
    out[threadIdx.x] = int(__ballot_sync(0xffffffff, 1));
  } else {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffff, 1, 1);
  }
}

__global__ void unraised_shared_kernel(float* out) {
  CLIPGRAD_DYNAMIC_SHARED(float, tile);
  tile[threadIdx.x] = 1;
  out[threadIdx.x] = tile[threadIdx.x];
}

__global__ void shared_overflow_kernel(float* out, int floats) {
  CLIPGRAD_DYNAMIC_SHARED(float, tile);  // [floats]
  if (threadIdx.x < floats) tile[threadIdx.x] = 1;
  if (threadIdx.x == 3) tile[floats] = 2;  // one past the end
  out[threadIdx.x] = 0;
}

__global__ void trapping_kernel(int* out) {
  if (threadIdx.x == 5) __trap();
  out[threadIdx.x] = 1;
}

__global__ void neighbour_sums_kernel(const float* x, float* y, int64_t n, bool synchronised) {
  __shared__ float tile[257];
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  tile[threadIdx.x] = i < n ? x[i] : 0.f;
  if (threadIdx.x == 0) tile[blockDim.x] = 0.f;
  if (synchronised) __syncthreads();
  if (i < n) y[i] = tile[threadIdx.x] + tile[threadIdx.x + 1];
}

__global__ void atomic_block_totals_kernel(const float* x, float* total, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const float block_total = tree_sum(i < n ? x[i] : 0.f);
  if (threadIdx.x == 0) atomicAdd(total, block_total);
}

__global__ void barrier_rounds_kernel(const float* x, float* out, int rounds) {
  float value = x[blockIdx.x * blockDim.x + threadIdx.x], total = 0;
  for (int round = 0; round < rounds; ++round) total += tree_sum(value + float(round));
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

unsigned blocks_for(int64_t n, unsigned threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace

// ---- launchers ----

void scale_add(const float* x, float* y, float a, int64_t n, Geometry geometry) {
  cuda::launch("scale_add", scale_add_kernel, geometry, x, y, a, n);
}

void block_sums(const float* x, float* partial, int64_t n, Geometry geometry) {
  cuda::launch("block_sums", block_sums_kernel, geometry, x, partial, n);
}

template <class T>
void warp_sums_of(const T* x, T* xor_sums, T* down_sums, int warps) {
  // 2 warps per block: the launch has several blocks and a block several warps.
  if (warps % 2 != 0) throw std::invalid_argument("warp_sums: an even number of warps");
  cuda::launch("warp_sums", warp_sums_kernel<T>, {unsigned(warps / 2), 64}, x, xor_sums, down_sums);
}
void warp_sums(const float* x, float* xor_sums, float* down_sums, int warps) {
  warp_sums_of(x, xor_sums, down_sums, warps);
}
void warp_sums(const double* x, double* xor_sums, double* down_sums, int warps) {
  warp_sums_of(x, xor_sums, down_sums, warps);
}
void warp_sums(const int64_t* x, int64_t* xor_sums, int64_t* down_sums, int warps) {
  warp_sums_of(x, xor_sums, down_sums, warps);
}

void warp_votes(const int* x, int* scan, int* broadcast, unsigned* ballot, int* all_any) {
  cuda::launch("warp_votes", warp_votes_kernel, {1, 32}, x, scan, broadcast, ballot, all_any);
}

void reverse_chunks(const float* x, float* y, int per_block, int blocks) {
  const size_t bytes = sizeof(float) * size_t(per_block);
  if (bytes > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(reverse_chunks_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  cuda::launch("reverse_chunks", reverse_chunks_kernel, {unsigned(blocks), 256, bytes}, x, y, per_block);
}

void atomic_histogram(const int* values, int64_t n, int bins, unsigned* counts, float* float_total,
                      double* double_total, int* largest, Geometry geometry) {
  cuda::launch("atomic_histogram", atomic_histogram_kernel, geometry, values, n, bins, counts, float_total,
               double_total, largest);
}

void mismatched_barrier(int* out, Geometry geometry) {
  cuda::launch("mismatched_barrier", mismatched_barrier_kernel, geometry, out);
}
void barrier_after_exit(int* out, Geometry geometry) {
  cuda::launch("barrier_after_exit", barrier_after_exit_kernel, geometry, out);
}
void shuffle_with_exited_lane(float* out, Geometry geometry) {
  cuda::launch("shuffle_with_exited_lane", shuffle_with_exited_lane_kernel, geometry, out);
}
void collectives_of_two_kinds(int* out, Geometry geometry) {
  cuda::launch("collectives_of_two_kinds", collectives_of_two_kinds_kernel, geometry, out);
}
void unraised_shared(float* out, size_t shared_bytes) {
  cuda::launch("unraised_shared", unraised_shared_kernel, {1, 32, shared_bytes}, out);
}
void shared_overflow(float* out, int floats) {
  cuda::launch("shared_overflow", shared_overflow_kernel, {1, 32, sizeof(float) * size_t(floats)}, out, floats);
}
void trapping(int* out) { cuda::launch("trapping", trapping_kernel, {1, 32}, out); }

void neighbour_sums(const float* x, float* y, int64_t n, bool synchronised) {
  cuda::launch("neighbour_sums", neighbour_sums_kernel, {blocks_for(n, 256), 256}, x, y, n, synchronised);
}

void atomic_block_totals(const float* x, float* total, int64_t n) {
  cuda::launch("atomic_block_totals", atomic_block_totals_kernel, {blocks_for(n, 256), 256}, x, total, n);
}

void barrier_rounds(const float* x, float* out, int rounds, Geometry geometry) {
  cuda::launch("barrier_rounds", barrier_rounds_kernel, geometry, x, out, rounds);
}

}  // namespace clipgrad::toy
