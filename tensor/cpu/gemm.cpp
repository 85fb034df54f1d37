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

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/kernels.h"

namespace clipgrad::cpu {

std::string blas_kernel_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

std::string blas_kernel_for_this_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

void use_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice stands
  std::string running = blas_kernel_name(), best = blas_kernel_for_this_cpu();
  bool generic = running == "Prescott" || running == "Core2" || running == "Nehalem" || running == "Sandybridge";
  if (best.empty() || !generic) return;
  setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the slow kernels
}

static void blas_gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                     const float* b, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              ta ? m : k, b, tb ? k : n, beta, c, n);
}

static void blas_gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                     const double* b, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              ta ? m : k, b, tb ? k : n, beta, c, n);
}

static std::atomic<uint64_t> g_flops{0};

uint64_t blas_flops_issued() { return g_flops.load(std::memory_order_relaxed); }

template <class T>
void blas_gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c, int64_t stride_c) {
  if (m == 0 || n == 0) return;
  // CBLAS takes int sizes and leading dimensions.
  constexpr int64_t kBlasMax = std::numeric_limits<int>::max();
  if (m > kBlasMax || n > kBlasMax || k > kBlasMax)
    throw std::length_error("gemm: [" + std::to_string(m) + "x" + std::to_string(k) + "] @ [" + std::to_string(k) +
                            "x" + std::to_string(n) + "] exceeds the BLAS integer range (2^31 - 1)");
  g_flops.fetch_add(static_cast<uint64_t>(2 * batch * m * n * k), std::memory_order_relaxed);
  for (int64_t i = 0; i < batch; ++i)
    blas_gemm_one(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, b + i * stride_b, beta, c + i * stride_c);
}

template void blas_gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  const float*, int64_t, float, float*, int64_t);
template void blas_gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   const double*, int64_t, double, double*, int64_t);

// The raw op: each operand's elements from its own start (a view's offset included).
void gemm(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  dispatch_floating(a.dtype(), "gemm", [&]<class T>() {
    blas_gemm_batched<T>(g.trans_a, g.trans_b, g.batch, g.m, g.n, g.k, T(g.alpha), a.data<T>(), g.stride_a, b.data<T>(),
                    g.stride_b, T(g.beta), c.data<T>(), g.stride_c);
  });
}

// Each row of c starts as the bias and the product accumulates onto it (beta
// 1), the order linear() has always used on the CPU.
void gemm_bias(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c) {
  dispatch_floating(c.dtype(), "gemm_bias", [&]<class T>() {
    const T* row = bias.data<T>();
    T* out = c.data<T>();
    for (int64_t i = 0; i < g.m; ++i) std::copy(row, row + g.n, out + i * g.n);
  });
  ops::GemmArgs accumulate = g;
  accumulate.beta = 1.0;
  cpu::gemm(accumulate, a, b, c);  // qualified: ops::gemm is found by ADL too
}


}  // namespace clipgrad::cpu
