// The CPU kernels of the gemm family (tensor/ops/linalg.h) on OpenBLAS, and
// the choice of OpenBLAS's kernels for this CPU. The CUDA twin is
// tensor/cuda/blas/gemm.cpp (cuBLASLt).
#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/kernels.h"

namespace clipgrad::cpu {

std::string blas_kernel_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

std::vector<std::string> blas_kernels_for_this_cpu() {
  __builtin_cpu_init();
  std::vector<std::string> families;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    families = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    for (const char* family : {"Haswell", "Zen"}) families.emplace_back(family);
  return families;
}

void use_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice stands
  const std::string running = blas_kernel_name();
  const std::vector<std::string> fast = blas_kernels_for_this_cpu();
  const bool generic = running == "Prescott" || running == "Core2" || running == "Nehalem" || running == "Sandybridge";
  if (fast.empty() || !generic) return;
  setenv("OPENBLAS_CORETYPE", fast.front().c_str(), 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the slow kernels
}

namespace {

// One row-major product on a block of the operands, with the full matrices'
// leading dimensions: c [m, n] (ldc) = alpha op(a) [m, k] @ op(b) [k, n] + beta c.
void blas_gemm_block(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

void blas_gemm_block(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                     const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

std::atomic<uint64_t> g_flops{0};

// The edge of the square-ish blocks that a product of m rows or n columns is
// cut into: a quarter of the size, rounded up to 16, between 64 and 256. It
// depends on the shape alone, never on the thread count.
int64_t block_edge(int64_t size) {
  const int64_t quarter = (size + 3) / 4;
  return std::clamp<int64_t>((quarter + 15) / 16 * 16, 64, 256);
}

}  // namespace

uint64_t blas_flops_issued() { return g_flops.load(std::memory_order_relaxed); }

// Same bits on any thread count, by construction: OpenBLAS, left to itself,
// splits a product across its threads by a partition that depends on the
// thread count, and at the partition's edges its micro-kernels take other
// code paths (on AMD Zen they round differently). So every product is cut
// here into blocks of c that depend only on its shape, and each block is one
// OpenBLAS call with the whole inner dimension. The calls run in an OpenMP
// region, where OpenBLAS (built on OpenMP) never splits a call further; which
// thread computes a block cannot change its bits.
template <class T>
void blas_gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                       int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c, int64_t stride_c) {
  if (m == 0 || n == 0) return;
  // CBLAS takes int sizes and leading dimensions.
  constexpr int64_t kBlasMax = std::numeric_limits<int>::max();
  if (m > kBlasMax || n > kBlasMax || k > kBlasMax)
    throw std::length_error("gemm: [" + std::to_string(m) + "x" + std::to_string(k) + "] @ [" + std::to_string(k) +
                            "x" + std::to_string(n) + "] exceeds the BLAS integer range (2^31 - 1)");
  g_flops.fetch_add(static_cast<uint64_t>(2 * batch * m * n * k), std::memory_order_relaxed);
  const int64_t row_edge = block_edge(m), column_edge = block_edge(n);
  const int64_t row_blocks = (m + row_edge - 1) / row_edge, column_blocks = (n + column_edge - 1) / column_edge;
  const int64_t blocks = batch * row_blocks * column_blocks;
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t i = block / (row_blocks * column_blocks), tile = block % (row_blocks * column_blocks);
    const int64_t row = (tile / column_blocks) * row_edge, column = (tile % column_blocks) * column_edge;
    const int64_t rows = std::min(row_edge, m - row), columns = std::min(column_edge, n - column);
    T* c_block = c + i * stride_c + row * n + column;
    if (k == 0) {  // c = beta c (beta 0 overwrites, NaNs included, as BLAS does)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < columns; ++j) c_block[r * n + j] = beta == T(0) ? T(0) : c_block[r * n + j] * beta;
      continue;
    }
    const T* a_block = a + i * stride_a + (trans_a ? row : row * k);        // op(a) rows [row, row + rows)
    const T* b_block = b + i * stride_b + (trans_b ? column * k : column);  // op(b) columns [column, column + columns)
    blas_gemm_block(trans_a, trans_b, rows, columns, k, alpha, a_block, lda, b_block, ldb, beta, c_block, n);
  }
}

template void blas_gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                       const float*, int64_t, float, float*, int64_t);
template void blas_gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                        const double*, int64_t, double, double*, int64_t);

namespace {

// bf16 operands: widened to f32 (exactly), multiplied by sgemm, which sums in
// f32; a bf16 c is widened first and rounded once at the end.
void gemm_bf16(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  const Tensor a32 = cpu::convert(a, DType::F32), b32 = cpu::convert(b, DType::F32);
  Tensor c32 = c.dtype() == DType::F32 ? c : cpu::convert(c, DType::F32);
  blas_gemm_batched<float>(g.trans_a, g.trans_b, g.batch, g.m, g.n, g.k, float(g.alpha), a32.data<float>(), g.stride_a,
                           b32.data<float>(), g.stride_b, float(g.beta), c32.data<float>(), g.stride_c);
  if (c.dtype() == DType::BF16) c.copy_from(cpu::convert(c32, DType::BF16));
}

}  // namespace

// The raw op: each operand's elements from its own start (a view's offset included).
void gemm(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  if (a.dtype() == DType::BF16) return gemm_bf16(g, a, b, c);
  dispatch_floating(a.dtype(), "gemm", [&]<class T>() {
    blas_gemm_batched<T>(g.trans_a, g.trans_b, g.batch, g.m, g.n, g.k, T(g.alpha), a.data<T>(), g.stride_a, b.data<T>(),
                         g.stride_b, T(g.beta), c.data<T>(), g.stride_c);
  });
}

// Each row of c starts as the bias and the product accumulates onto it (beta
// 1), the order linear() has always used on the CPU.
void gemm_bias(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c) {
  dispatch_any(c.dtype(), [&]<class T>() {
    const T* row = bias.data<T>();
    T* out = c.data<T>();
    for (int64_t i = 0; i < g.m; ++i) std::copy(row, row + g.n, out + i * g.n);
  });
  ops::GemmArgs accumulate = g;
  accumulate.beta = 1.0;
  cpu::gemm(accumulate, a, b, c);  // qualified: ops::gemm is found by ADL too
}

}  // namespace clipgrad::cpu
