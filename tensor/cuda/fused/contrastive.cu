// The CUDA kernels of the contrastive family (tensor/ops/reduce.h), the twin
// of tensor/cpu/contrastive.cpp: the contrastive cross-entropy, f32.
//
// Pass 1 reads the logits [N, N] once for each direction's log-sum-exp: a
// warp per row (lanes stride the row, coalesced), and for the columns a
// 32 x 8 block per 32 columns (lanes own consecutive columns, so each warp's
// loads are one coalesced row segment; the 8 warps split the rows and combine
// their partial (max, sum) pairs in a fixed order). Each pair is an online
// log-sum-exp: a larger value rescales the running sum instead of a second
// pass for the max. Pass 2 writes the gradient, one thread per element, from
// the two lse vectors; a one-block kernel sums the loss in double in a fixed
// order. No softmax matrix is stored, and no atomics are used: same bits on
// every run.
//
// row_lse_kernel2, column_lse_kernel2 and grad_kernel2 are version 2 of the
// kernel lab dev/cuda/contrastive_ce.cu (the same names there, beside the
// naive version 1 and its timing); loss_kernel has no lab.
#include <cmath>

#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

constexpr int kRowWarps = 8;      // rows per block of the row pass
constexpr int kColumnGroups = 8;  // warps splitting the rows of one 32-column tile
constexpr int kLossThreads = 1024;
constexpr int kGradThreads = 256;

// ---- kernels ----

// (max, sum): sum of exp(v - max) over the values seen.
struct OnlineLogSumExp {
  float max = -INFINITY, sum = 0;
  __device__ void add(float value) {
    if (value > max) {
      sum = sum * expf(max - value) + 1;
      max = value;
    } else {
      sum += expf(value - max);
    }
  }
  __device__ void merge(float other_max, float other_sum) {
    const float merged = fmaxf(max, other_max);
    if (merged == -INFINITY) return;  // both empty
    sum = sum * expf(max - merged) + other_sum * expf(other_max - merged);
    max = merged;
  }
  __device__ float value() const { return max + logf(sum); }
};

// A lane's (max, sum) pair, for warp_reduce (device_tensor.h).
__device__ inline OnlineLogSumExp shuffle_xor(const OnlineLogSumExp& lse, int lane_mask) {
  OnlineLogSumExp other;
  other.max = cuda::shuffle_xor(lse.max, lane_mask);
  other.sum = cuda::shuffle_xor(lse.sum, lane_mask);
  return other;
}

// grid ceil(N / kRowWarps), block kRowWarps * 32: row_lse [N] of logits [N, N].
__global__ void row_lse_kernel2(const float* logits, int64_t n, float* row_lse) {
  const int64_t row = int64_t(blockIdx.x) * kRowWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;
  OnlineLogSumExp lse;
  for (int64_t j = lane; j < n; j += 32) lse.add(logits[row * n + j]);
  lse = warp_reduce(lse, [](OnlineLogSumExp mine, const OnlineLogSumExp& other) {
    mine.merge(other.max, other.sum);
    return mine;
  });
  if (lane == 0) row_lse[row] = lse.value();
}

// grid ceil(N / 32), block (32, kColumnGroups): column_lse [N] of logits [N, N].
__global__ void column_lse_kernel2(const float* logits, int64_t n, float* column_lse) {
  __shared__ float partial_max[kColumnGroups][32], partial_sum[kColumnGroups][32];
  const int64_t column = int64_t(blockIdx.x) * 32 + threadIdx.x;
  OnlineLogSumExp lse;
  if (column < n)
    for (int64_t i = threadIdx.y; i < n; i += kColumnGroups) lse.add(logits[i * n + column]);
  partial_max[threadIdx.y][threadIdx.x] = lse.max;
  partial_sum[threadIdx.y][threadIdx.x] = lse.sum;
  __syncthreads();
  if (threadIdx.y != 0 || column >= n) return;
  for (int group = 1; group < kColumnGroups; ++group)
    lse.merge(partial_max[group][threadIdx.x], partial_sum[group][threadIdx.x]);
  column_lse[column] = lse.value();
}

// One block of kLossThreads: loss [] = sum_i (w_row (row_lse[i] - x_ii) + w_col (column_lse[i] - x_ii)) / N.
__global__ void loss_kernel(const float* logits, const float* row_lse, const float* column_lse, int64_t n,
                            double row_weight, double column_weight, float* loss) {
  double total = 0;
  for (int64_t i = threadIdx.x; i < n; i += kLossThreads) {
    const double diagonal = logits[i * n + i];
    total += row_weight * (double(row_lse[i]) - diagonal);
    if (column_lse) total += column_weight * (double(column_lse[i]) - diagonal);
  }
  total = block_sum<kLossThreads>(total);
  if (threadIdx.x == 0) *loss = float(total / double(n));
}

// One thread per element of grad [N, N]:
// (w_row (softmax_row - onehot) + w_col (softmax_col - onehot)) / N.
__global__ void grad_kernel2(const float* logits, const float* row_lse, const float* column_lse, int64_t n,
                             float row_scale, float column_scale, float* grad) {
  const int64_t index = int64_t(blockIdx.x) * kGradThreads + threadIdx.x;
  if (index >= n * n) return;
  const int64_t i = index / n, j = index % n;
  const float value = logits[index];
  float g = row_scale * expf(value - row_lse[i]);
  if (column_lse) g += column_scale * expf(value - column_lse[j]);
  if (i == j) g -= row_scale + column_scale;
  grad[index] = g;
}

// ---- launchers ----

}  // namespace

// ---- launcher ----

ops::ContrastiveCrossEntropy contrastive_cross_entropy(const Tensor& logits, ops::ContrastiveDirections directions) {
  if (logits.dtype() != DType::F32)
    throw std::invalid_argument(std::string("contrastive_cross_entropy: CUDA takes f32 logits, got ") +
                                dtype_name(logits.dtype()));
  const int64_t n = logits.size(0);
  const bool symmetric = directions == ops::ContrastiveDirections::Symmetric;
  const double row_weight = symmetric ? 0.5 : 1.0, column_weight = symmetric ? 0.5 : 0.0;
  ops::ContrastiveCrossEntropy result{Tensor::empty({}, DType::F32, Device::CUDA),
                                      Tensor::empty({n, n}, DType::F32, Device::CUDA)};
  Tensor lse = Tensor::empty({2, n}, DType::F32, Device::CUDA);  // rows, then columns
  float* row_lse = device_data<float>(lse);
  float* column_lse = symmetric ? row_lse + n : nullptr;
  const float* x = device_data<float>(logits);
  launch("row_lse_kernel2", row_lse_kernel2, {unsigned((n + kRowWarps - 1) / kRowWarps), kRowWarps * 32}, x, n,
         row_lse);
  if (symmetric) {
    launch("column_lse_kernel2", column_lse_kernel2, {unsigned((n + 31) / 32), dim3(32, kColumnGroups)}, x, n,
           column_lse);
  }
  launch("loss_kernel", loss_kernel, {1, kLossThreads}, x, row_lse, column_lse, n, row_weight, column_weight,
         device_data<float>(result.loss));
  launch("grad_kernel2", grad_kernel2, {unsigned((n * n + kGradThreads - 1) / kGradThreads), kGradThreads}, x, row_lse,
         column_lse, n, float(row_weight / double(n)), float(column_weight / double(n)),
         device_data<float>(result.grad_logits));
  return result;
}

}  // namespace clipgrad::cuda
