// Kernel lab: CLIP's symmetric cross-entropy of logits [N, N] with the
// positives on the diagonal, loss = (CE(rows) + CE(columns)) / 2, and its
// gradient d loss / d logits.
//
//   build/dev/cuda/lab_contrastive_ce [N]     (default 4096; CLIP trains at 256..32768)
//
//   1 naive: softmax of every row into a P_row [N, N] matrix, softmax of
//     every column into P_col [N, N] (each with a max pass, a sum pass and a
//     write pass), then the gradient from both. Two extra N^2 matrices are
//     written and read back: 11 N^2 floats of traffic in all.
//   2 online (what tensor/cuda/fused/contrastive.cu does): each row's and
//     column's log-sum-exp in one pass with a running (max, sum) that is
//     rescaled when a larger value arrives; the gradient is then one
//     elementwise pass exp(x - lse). Traffic: read logits twice (rows,
//     columns), once more for the gradient, write it once: 4 N^2 floats.
//     Columns: a 32 x 8 block per 32 columns, lanes on consecutive columns so
//     each warp load is one 128-byte line of a row.
#include "lab_common.cuh"

__device__ float warp_sum(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
  return value;
}
__device__ float warp_max(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffff, value, offset));
  return value;
}

// ---- 1 naive ----

// grid N, block 32: one warp per line; stride_line / stride_item pick rows (n, 1) or columns (1, n).
__global__ void softmax_lines_kernel1(const float* x, int n, int stride_line, int stride_item, float* p) {
  const int line = blockIdx.x, lane = threadIdx.x;
  float max = -INFINITY;
  for (int i = lane; i < n; i += 32) max = fmaxf(max, x[size_t(line) * stride_line + size_t(i) * stride_item]);
  max = warp_max(max);
  float total = 0;
  for (int i = lane; i < n; i += 32) total += expf(x[size_t(line) * stride_line + size_t(i) * stride_item] - max);
  total = warp_sum(total);
  for (int i = lane; i < n; i += 32) {
    const size_t at = size_t(line) * stride_line + size_t(i) * stride_item;
    p[at] = expf(x[at] - max) / total;
  }
}

// one thread per element: grad = (P_row + P_col - 2 onehot) / (2N)
__global__ void grad_kernel1(const float* p_row, const float* p_col, int n, float* grad) {
  const size_t index = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= size_t(n) * n) return;
  const bool diagonal = index / n == index % n;
  grad[index] = (p_row[index] + p_col[index] - (diagonal ? 2.f : 0.f)) / (2.f * n);
}

// ---- 2 online ----

struct Lse {
  float max = -INFINITY, sum = 0;
  __device__ void add(float v) {
    if (v > max) {
      sum = sum * expf(max - v) + 1;
      max = v;
    } else {
      sum += expf(v - max);
    }
  }
  __device__ void merge(float m, float s) {
    const float merged = fmaxf(max, m);
    if (merged == -INFINITY) return;
    sum = sum * expf(max - merged) + s * expf(m - merged);
    max = merged;
  }
};

// grid ceil(N / 8), block 256: warp per row.
__global__ void row_lse_kernel2(const float* x, int n, float* lse) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  Lse l;
  for (int j = lane; j < n; j += 32) l.add(x[size_t(row) * n + j]);
  for (int offset = 16; offset > 0; offset /= 2)
    l.merge(__shfl_xor_sync(0xffffffff, l.max, offset), __shfl_xor_sync(0xffffffff, l.sum, offset));
  if (lane == 0) lse[row] = l.max + logf(l.sum);
}

// grid ceil(N / 32), block (32, 8).
__global__ void column_lse_kernel2(const float* x, int n, float* lse) {
  __shared__ float maxes[8][32], sums[8][32];
  const int column = blockIdx.x * 32 + threadIdx.x;
  Lse l;
  if (column < n)
    for (int i = threadIdx.y; i < n; i += 8) l.add(x[size_t(i) * n + column]);
  maxes[threadIdx.y][threadIdx.x] = l.max;
  sums[threadIdx.y][threadIdx.x] = l.sum;
  __syncthreads();
  if (threadIdx.y != 0 || column >= n) return;
  for (int g = 1; g < 8; ++g) l.merge(maxes[g][threadIdx.x], sums[g][threadIdx.x]);
  lse[column] = l.max + logf(l.sum);
}

__global__ void grad_kernel2(const float* x, const float* lse_row, const float* lse_col, int n, float* grad) {
  const size_t index = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= size_t(n) * n) return;
  const size_t i = index / n, j = index % n;
  const float scale = 0.5f / n;
  grad[index] = scale * (expf(x[index] - lse_row[i]) + expf(x[index] - lse_col[j])) - (i == j ? 2 * scale : 0.f);
}

int main(int argc, char** argv) {
  if (!lab_has_device()) return 0;
  const int n = argc > 1 ? std::atoi(argv[1]) : 4096;
  std::printf("contrastive cross-entropy, logits [%d, %d]\n", n, n);
  const std::vector<float> x = random_values(size_t(n) * n, 30.f, 1);  // CLIP's scale: cosines x 100
  // CPU reference in double.
  std::vector<double> lse_r(n), lse_c(n);
  for (int i = 0; i < n; ++i) {
    double max = -INFINITY, total = 0;
    for (int j = 0; j < n; ++j) max = std::max(max, double(x[size_t(i) * n + j]));
    for (int j = 0; j < n; ++j) total += std::exp(x[size_t(i) * n + j] - max);
    lse_r[i] = max + std::log(total);
  }
  for (int j = 0; j < n; ++j) {
    double max = -INFINITY, total = 0;
    for (int i = 0; i < n; ++i) max = std::max(max, double(x[size_t(i) * n + j]));
    for (int i = 0; i < n; ++i) total += std::exp(x[size_t(i) * n + j] - max);
    lse_c[j] = max + std::log(total);
  }
  std::vector<float> want(x.size());
  for (size_t index = 0; index < x.size(); ++index) {
    const size_t i = index / n, j = index % n;
    want[index] =
        float(0.5 / n * (std::exp(x[index] - lse_r[i]) + std::exp(x[index] - lse_c[j])) - (i == j ? 1.0 / n : 0.0));
  }
  float *device_x = to_device(x), *grad = nullptr, *p_row = nullptr, *p_col = nullptr, *lse = nullptr;
  LAB_CHECK(cudaMalloc(&grad, x.size() * sizeof(float)));
  LAB_CHECK(cudaMalloc(&p_row, x.size() * sizeof(float)));
  LAB_CHECK(cudaMalloc(&p_col, x.size() * sizeof(float)));
  LAB_CHECK(cudaMalloc(&lse, 2 * n * sizeof(float)));
  const unsigned element_blocks = unsigned((size_t(n) * n + 255) / 256);
  auto report = [&](const char* name, float milliseconds, double bytes) {
    check_against_cpu(name, to_host(grad, x.size()), want, 1e-3f, 1e-6f);
    std::printf("  %-28s %8.3f ms  %7.1f GB/s moved\n", name, milliseconds, bytes / milliseconds / 1e6);
  };
  const double matrix = double(n) * n * sizeof(float);
  report("1 naive (softmax matrices)", time_ms([&] {
           lab_launch(softmax_lines_kernel1, n, 32, 0, device_x, n, n, 1, p_row);
           lab_launch(softmax_lines_kernel1, n, 32, 0, device_x, n, 1, n, p_col);
           lab_launch(grad_kernel1, element_blocks, 256, 0, p_row, p_col, n, grad);
         }),
         11 * matrix);
  report("2 online log-sum-exp", time_ms([&] {
           lab_launch(row_lse_kernel2, (n + 7) / 8, 256, 0, device_x, n, lse);
           lab_launch(column_lse_kernel2, (n + 31) / 32, dim3(32, 8), 0, device_x, n, lse + n);
           lab_launch(grad_kernel2, element_blocks, 256, 0, device_x, lse, lse + n, n, grad);
         }),
         4 * matrix);
  for (float* pointer : {device_x, grad, p_row, p_col, lse}) cudaFree(pointer);
  return lab_exit_code();
}
