// Kernel lab: C [M, N] = A [M, K] @ B [K, N], row-major f32.
//
//   build/dev/cuda/lab_gemm [M N K]        (default 4096 4096 4096)
//
// Versions, slowest first:
//   1 naive: one thread per element of C, reading a row of A and a column of
//     B straight from global memory. Each element of A is read N times and
//     each of B M times: ~2 MNK loads for 2 MNK FLOPs, so the kernel is bound
//     by L2/DRAM bandwidth at ~1 FLOP per 4 bytes.
//   2 shared-memory tiles: a 32x32 block of threads computes a 32x32 tile of
//     C, staging 32x32 tiles of A and B in shared memory per step of K. Each
//     loaded element is reused 32 times: loads drop 32x. Still one output per
//     thread, so the FMA units wait on shared-memory loads (~1/3 of peak).
//   3 cuBLASLt (what tensor/cuda/blas/gemm.cpp calls): register tiling,
//     asynchronous copies (TMA on Hopper), and with TF32 the tensor cores.
//     The fp32 (non-TF32) ceiling of an H200 is ~51 TFLOP/s; TF32 ~400.
//
// Row-major through a column-major library: C^T = B^T A^T, so B is passed
// first with no data moved.
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/vendor/cublasLt.h"
#else
#include <cublasLt.h>
#endif

#include "lab_common.cuh"

constexpr int kTile = 32;

// grid (ceil(N / 16), ceil(M / 16)), block (16, 16): thread (x, y) computes C[row y][column x].
__global__ void gemm_naive(const float* a, const float* b, float* c, int m, int n, int k) {
  const int row = blockIdx.y * blockDim.y + threadIdx.y, column = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= m || column >= n) return;
  float total = 0;
  for (int i = 0; i < k; ++i) total += a[size_t(row) * k + i] * b[size_t(i) * n + column];
  c[size_t(row) * n + column] = total;
}

// grid (ceil(N / 32), ceil(M / 32)), block (32, 32): the block's tile of C, K in steps of 32.
// threadIdx.x walks columns so a warp's loads of B and stores of C are one 128-byte line.
__global__ void gemm_shared_tiles(const float* a, const float* b, float* c, int m, int n, int k) {
  __shared__ float a_tile[kTile][kTile], b_tile[kTile][kTile + 1];  // +1: no bank conflicts on column reads
  const int row = blockIdx.y * kTile + threadIdx.y, column = blockIdx.x * kTile + threadIdx.x;
  float total = 0;
  for (int step = 0; step < k; step += kTile) {
    a_tile[threadIdx.y][threadIdx.x] = row < m && step + threadIdx.x < k ? a[size_t(row) * k + step + threadIdx.x] : 0;
    b_tile[threadIdx.y][threadIdx.x] =
        step + threadIdx.y < k && column < n ? b[size_t(step + threadIdx.y) * n + column] : 0;
    __syncthreads();
    for (int i = 0; i < kTile; ++i) total += a_tile[threadIdx.y][i] * b_tile[i][threadIdx.x];
    __syncthreads();
  }
  if (row < m && column < n) c[size_t(row) * n + column] = total;
}

#define LT_CHECK(call)                                                                                             \
  do {                                                                                                             \
    cublasStatus_t status_ = (call);                                                                               \
    if (status_ != CUBLAS_STATUS_SUCCESS) {                                                                        \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cublasLtGetStatusString(status_)); \
      std::exit(1);                                                                                                \
    }                                                                                                              \
  } while (0)

struct LtGemm {
  cublasLtHandle_t handle{};
  cublasLtMatmulDesc_t operation{};
  cublasLtMatrixLayout_t a_layout{}, b_layout{}, c_layout{};
  cublasLtMatmulAlgo_t algorithm{};
  void* workspace = nullptr;
  size_t workspace_bytes = size_t(32) << 20;

  LtGemm(int m, int n, int k, bool tf32) {
    LT_CHECK(cublasLtCreate(&handle));
    LT_CHECK(
        cublasLtMatmulDescCreate(&operation, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F));
    // Column-major views of the row-major buffers: B is [n, k] ld n, A is [k, m] ld k, C is [n, m] ld n.
    LT_CHECK(cublasLtMatrixLayoutCreate(&b_layout, CUDA_R_32F, n, k, n));
    LT_CHECK(cublasLtMatrixLayoutCreate(&a_layout, CUDA_R_32F, k, m, k));
    LT_CHECK(cublasLtMatrixLayoutCreate(&c_layout, CUDA_R_32F, n, m, n));
    LAB_CHECK(cudaMalloc(&workspace, workspace_bytes));
    cublasLtMatmulPreference_t preference{};
    LT_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &workspace_bytes, sizeof(workspace_bytes)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    LT_CHECK(cublasLtMatmulAlgoGetHeuristic(handle, operation, b_layout, a_layout, c_layout, c_layout, preference, 1,
                                            &result, &found));
    if (found == 0) {
      std::fprintf(stderr, "cuBLASLt found no algorithm\n");
      std::exit(1);
    }
    algorithm = result.algo;
    cublasLtMatmulPreferenceDestroy(preference);
  }
  void run(const float* a, const float* b, float* c) const {
    const float one = 1, zero = 0;
    LT_CHECK(cublasLtMatmul(handle, operation, &one, b, b_layout, a, a_layout, &zero, c, c_layout, c, c_layout,
                            &algorithm, workspace, workspace_bytes, 0));
  }
  ~LtGemm() {
    cudaFree(workspace);
    cublasLtMatrixLayoutDestroy(c_layout);
    cublasLtMatrixLayoutDestroy(a_layout);
    cublasLtMatrixLayoutDestroy(b_layout);
    cublasLtMatmulDescDestroy(operation);
    cublasLtDestroy(handle);
  }
};

int main(int argc, char** argv) {
  if (!lab_has_device()) return 0;
  const int m = argc > 3 ? std::atoi(argv[1]) : 4096, n = argc > 3 ? std::atoi(argv[2]) : 4096,
            k = argc > 3 ? std::atoi(argv[3]) : 4096;
  std::printf("gemm [%d x %d] @ [%d x %d]\n", m, k, k, n);
  const std::vector<float> a = random_values(size_t(m) * k, 1.f, 1), b = random_values(size_t(k) * n, 1.f, 2);
  float *device_a = to_device(a), *device_b = to_device(b), *device_c = nullptr;
  LAB_CHECK(cudaMalloc(&device_c, size_t(m) * n * sizeof(float)));

  // The CPU reference on a sample of rows: a full [4096]^3 product on the CPU takes minutes.
  const int sample_rows = std::min(m, 16);
  std::vector<float> want(size_t(sample_rows) * n, 0.f);
  for (int r = 0; r < sample_rows; ++r)
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < n; ++j) want[size_t(r) * n + j] += a[size_t(r) * k + i] * b[size_t(i) * n + j];

  const double flops = 2.0 * m * n * k;
  auto report = [&](const char* name, float milliseconds, float tolerance, float floor = 1e-3f) {
    check_against_cpu(name, to_host(device_c, size_t(sample_rows) * n), want, tolerance, floor);
    std::printf("  %-28s %8.3f ms  %7.2f TFLOP/s\n", name, milliseconds, flops / milliseconds / 1e9);
  };
  const dim3 naive_grid((n + 15) / 16, (m + 15) / 16), tile_grid((n + kTile - 1) / kTile, (m + kTile - 1) / kTile);
  report("1 naive",
         time_ms([&] { lab_launch(gemm_naive, naive_grid, dim3(16, 16), 0, device_a, device_b, device_c, m, n, k); }, 3,
                 1),
         1e-3f);
  report("2 shared-memory tiles", time_ms([&] {
           lab_launch(gemm_shared_tiles, tile_grid, dim3(kTile, kTile), 0, device_a, device_b, device_c, m, n, k);
         }),
         1e-3f);
  {
    LtGemm lt(m, n, k, false);
    report("3 cuBLASLt fp32", time_ms([&] { lt.run(device_a, device_b, device_c); }), 1e-3f);
  }
  {
    // TF32 keeps 11 significant bits of each operand, so an element's error
    // follows the size of its k terms (about sqrt(k) for these values), not its
    // own value, which cancellation can make small: relative to that floor.
    LtGemm lt(m, n, k, true);
    report("3 cuBLASLt tf32", time_ms([&] { lt.run(device_a, device_b, device_c); }), 5e-3f, std::sqrt(float(k)));
  }
  cudaFree(device_a);
  cudaFree(device_b);
  cudaFree(device_c);
  return lab_exit_code();
}
