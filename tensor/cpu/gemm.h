// Batched GEMM on CPU through OpenBLAS (CBLAS), f32 and f64.
#pragma once

#include "tensor/tensor.h"

namespace clipgrad::cpu {

// c = alpha * op(a) @ op(b) + beta * c, row-major, for each of `batch` matrices.
//   op(a): [m, k] (a stored [m,k], or [k,m] when trans_a)
//   op(b): [k, n] (b stored [k,n], or [n,k] when trans_b)
//   c:     [m, n]
// A batch stride of 0 reuses the same matrix for every batch entry.
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha,
                  const T* a, int64_t stride_a, const T* b, int64_t stride_b, T beta, T* c, int64_t stride_c);

// Floating-point operations (2*m*n*k per matrix) issued through gemm_batched
// since start-up; benchmarks read it to report achieved GFLOP/s.
uint64_t gemm_flops_issued();

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, const T* b, T beta,
          T* c) {
  gemm_batched<T>(trans_a, trans_b, 1, m, n, k, alpha, a, 0, b, 0, beta, c, 0);
}

}  // namespace clipgrad::cpu
