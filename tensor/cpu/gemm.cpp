#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <string>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/kernels.h"

namespace clipgrad::cpu {

static void gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                     const float* b, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              ta ? m : k, b, tb ? k : n, beta, c, n);
}

static void gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                     const double* b, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              ta ? m : k, b, tb ? k : n, beta, c, n);
}

static std::atomic<uint64_t> g_flops{0};

uint64_t gemm_flops_issued() { return g_flops.load(std::memory_order_relaxed); }

template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c, int64_t stride_c) {
  if (m == 0 || n == 0) return;
  // CBLAS takes int sizes and leading dimensions.
  constexpr int64_t kBlasMax = std::numeric_limits<int>::max();
  if (m > kBlasMax || n > kBlasMax || k > kBlasMax)
    throw std::length_error("gemm: [" + std::to_string(m) + "x" + std::to_string(k) + "] @ [" + std::to_string(k) +
                            "x" + std::to_string(n) + "] exceeds the BLAS integer range (2^31 - 1)");
  g_flops.fetch_add(static_cast<uint64_t>(2 * batch * m * n * k), std::memory_order_relaxed);
  for (int64_t i = 0; i < batch; ++i)
    gemm_one(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, b + i * stride_b, beta, c + i * stride_c);
}

template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  const float*, int64_t, float, float*, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   const double*, int64_t, double, double*, int64_t);

namespace {

// The tensor-level entry of the kernel table: each operand's elements from
// its own start (a view's offset included).
void gemm_tensors(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  if (a.dtype() != b.dtype() || a.dtype() != c.dtype())
    throw std::invalid_argument(std::string("gemm: operands have dtypes ") + dtype_name(a.dtype()) + ", " +
                                dtype_name(b.dtype()) + " and " + dtype_name(c.dtype()));
  dispatch_floating(a.dtype(), "gemm", [&]<class T>() {
    gemm_batched<T>(g.trans_a, g.trans_b, g.batch, g.m, g.n, g.k, T(g.alpha), a.data<T>(), g.stride_a, b.data<T>(),
                    g.stride_b, T(g.beta), c.data<T>(), g.stride_c);
  });
}

// Each row of c starts as the bias and the product accumulates onto it (beta
// 1), the order linear() has always used on the CPU.
void gemm_bias_tensors(const ops::GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c) {
  if (g.batch != 1 || bias.shape() != Shape{g.n} || bias.dtype() != c.dtype())
    throw std::invalid_argument("gemm_bias: needs batch 1 and a bias [" + std::to_string(g.n) + "] of c's dtype, got " +
                                shape_str(bias.shape()) + " " + dtype_name(bias.dtype()));
  dispatch_floating(c.dtype(), "gemm_bias", [&]<class T>() {
    const T* row = bias.data<T>();
    T* out = c.data<T>();
    for (int64_t i = 0; i < g.m; ++i) std::copy(row, row + g.n, out + i * g.n);
  });
  ops::GemmArgs accumulate = g;
  accumulate.beta = 1.0;
  gemm_tensors(accumulate, a, b, c);
}

}  // namespace

void fill_gemm_kernels(ops::Kernels& table) {
  table.gemm = &gemm_tensors;
  table.gemm_bias = &gemm_bias_tensors;
}

}  // namespace clipgrad::cpu
