// OpenBLAS behind the CPU's GEMM: a batched GEMM on raw pointers (f32 and
// f64) for the CPU kernels, and which of OpenBLAS's kernels run.
//
// OpenBLAS picks its kernels when it loads, from the CPU model. Debian 12's
// 0.3.21 does not know recent Xeons (e.g. family 6 model 207) and falls back
// to its SSE3 "Prescott" kernels: SGEMM at 1024^3 runs at 22 GFLOP/s there
// instead of 107 with the AVX-512 "SkylakeX" kernels on the same 2 cores. The
// choice can only be made through OPENBLAS_CORETYPE before the library loads.
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::cpu {

// c = alpha * op(a) @ op(b) + beta * c, row-major, for each of `batch` matrices.
//   op(a): [m, k] (a stored [m,k], or [k,m] when trans_a)
//   op(b): [k, n] (b stored [k,n], or [n,k] when trans_b)
//   c:     [m, n]
// A batch stride of 0 reuses the same matrix for every batch entry.
template <class T>
void blas_gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                       int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c, int64_t stride_c);

// Floating-point operations (2*m*n*k per matrix) issued through blas_gemm_batched
// since start-up; benchmarks read it to report achieved GFLOP/s.
uint64_t blas_flops_issued();

template <class T>
void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta,
               T* c) {
  blas_gemm_batched<T>(trans_a, trans_b, 1, m, n, k, alpha, a, 0, b, 0, beta, c, 0);
}

// The kernel family OpenBLAS runs ("Prescott", "Haswell", "SkylakeX", ...).
std::string blas_kernel_name();

// The fast kernel families of OpenBLAS 0.3.21 that this CPU runs, best
// first: with AVX-512 (F, BW, DQ, VL) "SkylakeX", "Cooperlake" and
// "SapphireRapids"; with AVX2 and FMA "Haswell" and "Zen" (OpenBLAS picks
// Zen on AMD and Haswell on Intel). Empty on an older CPU.
std::vector<std::string> blas_kernels_for_this_cpu();

// When OPENBLAS_CORETYPE is unset and OpenBLAS fell back to a generic kernel
// that this CPU can beat, sets OPENBLAS_CORETYPE to the best of
// blas_kernels_for_this_cpu() and re-executes the program
// (argv as given to main) so that OpenBLAS loads with the right kernels.
// Returns normally when nothing needs to change or the re-exec fails.
void use_fast_blas_kernels(char** argv);

}  // namespace clipgrad::cpu
