// Toy kernels for the emulator's tests, written as CUDA in toy_kernels.cu
// (compiled as C++ against the emulator, like every emulated .cu file), and
// launched through cuda::launch. Pointers are device pointers; each launcher
// takes the launch geometry so a test can get it wrong on purpose.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/launch.h"

namespace clipgrad::toy {

using cuda::Geometry;

// ---- correct kernels ----
// y [n] = a * x [n] + y [n], one grid-stride loop.
void scale_add(const float* x, float* y, float a, int64_t n, Geometry geometry);
// partial [gridDim.x] = the sum of each block's chunk of x [n], a shared-memory tree with __syncthreads
// (blockDim.x a power of 2, up to 1024).
void block_sums(const float* x, float* partial, int64_t n, Geometry geometry);
// One warp per 32 values of x [32 * warps]: xor_sums [32 * warps] (every lane the butterfly total,
// __shfl_xor_sync), down_sums [warps] (lane 0's __shfl_down_sync tree), for float, double and int64.
void warp_sums(const float* x, float* xor_sums, float* down_sums, int warps);
void warp_sums(const double* x, double* xor_sums, double* down_sums, int warps);
void warp_sums(const int64_t* x, int64_t* xor_sums, int64_t* down_sums, int warps);
// For one warp of x [32]: scan [32] inclusive prefix sums (__shfl_up_sync), broadcast [32] = x[31 - lane]
// (__shfl_sync), ballot [1] = the lanes with x > 0 (__ballot_sync), all/any [1].
void warp_votes(const int* x, int* scan, int* broadcast, unsigned* ballot, int* all_any);
// Each block reverses its chunk of `per_block` floats of x into y, through dynamic shared memory
// (per_block * 4 bytes; the attribute is raised when that is over 48 KiB).
void reverse_chunks(const float* x, float* y, int per_block, int blocks);
// counts [bins] += how many of values [n] fall in each bin; totals: atomicAdd of every value as
// float [1] and double [1]; largest [1] = atomicMax over the values.
void atomic_histogram(const int* values, int64_t n, int bins, unsigned* counts, float* float_total,
                      double* double_total, int* largest, Geometry geometry);

// ---- kernels the emulator must refuse ----
void mismatched_barrier(int* out, Geometry geometry);          // half the threads at one __syncthreads, half at another
void barrier_after_exit(int* out, Geometry geometry);          // warps past the first return, then __syncthreads
void shuffle_with_exited_lane(float* out, Geometry geometry);  // lane 31 returns, the others shuffle with a full mask
void collectives_of_two_kinds(int* out, Geometry geometry);    // even lanes ballot, odd lanes shuffle
void unraised_shared(float* out, size_t shared_bytes);         // dynamic shared memory, the attribute never raised
void shared_overflow(float* out, int floats);                  // writes one float past its dynamic shared memory
void trapping(int* out);                                       // thread 5 calls __trap()

// ---- schedules ----
// y [n] = tile[t] + tile[t + 1] of each 256-thread block's chunk of x, without (racy) or with the
// __syncthreads between writing the tile and reading the neighbour.
void neighbour_sums(const float* x, float* y, int64_t n, bool synchronised);
// total [1] += each block's sum of x, by atomicAdd: the float sum depends on the blocks' order.
void atomic_block_totals(const float* x, float* total, int64_t n);

// ---- timing ----
// out [gridDim.x] = each block's sum, after `rounds` rounds of a shared-memory tree (each round 10
// __syncthreads for 1024 threads).
void barrier_rounds(const float* x, float* out, int rounds, Geometry geometry);

}  // namespace clipgrad::toy
