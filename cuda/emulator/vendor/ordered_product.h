// The one product loop of the vendor stand-ins: cuBLASLt's GEMM and cuDNN's
// three convolution directions are each out(i, j) = sum over p of a(i, p) *
// b(p, j), with a and b read through accessors (transposes, strides, the
// implicit im2col of a convolution).
//
// Every out(i, j) is one sum in a fixed order: from 0, sum = fma(a(i, p),
// b(p, j), sum) for p = 0, 1, ... k - 1, in T: each step a fused multiply-add
// (one rounding, as a GPU's FFMA), written out so that no compiler
// contraction can change it. So the result does not depend on the blocking,
// on m or n, on the compiler's flags or on the machine. The work is
// cut into blocks of kRows x kCols outputs; a block's operands are copied into
// contiguous panels kDepth deep, and the innermost loop runs over kRows
// independent sums, which the compiler vectorises.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace clipgrad::cuda::emulator::detail {

// a(i, p) and b(p, j) return T; store(i, j, sum) receives each of the m x n sums once.
template <class T, class A, class B, class Store>
void ordered_product(int64_t m, int64_t n, int64_t k, const A& a, const B& b, const Store& store) {
  constexpr int64_t kRows = 64, kCols = 32, kDepth = 256;
  std::vector<T> a_panel(kDepth * kRows), b_panel(kDepth * kCols), sums(kCols * kRows);
  for (int64_t j0 = 0; j0 < n; j0 += kCols) {
    const int64_t cols = std::min(kCols, n - j0);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int64_t rows = std::min(kRows, m - i0);
      std::fill(sums.begin(), sums.end(), T(0));
      for (int64_t p0 = 0; p0 < k; p0 += kDepth) {
        const int64_t depth = std::min(kDepth, k - p0);
        for (int64_t p = 0; p < depth; ++p) {
          T* a_row = a_panel.data() + p * kRows;
          for (int64_t ii = 0; ii < rows; ++ii) a_row[ii] = a(i0 + ii, p0 + p);
          std::fill(a_row + rows, a_row + kRows, T(0));
          T* b_row = b_panel.data() + p * kCols;
          for (int64_t jj = 0; jj < cols; ++jj) b_row[jj] = b(p0 + p, j0 + jj);
        }
        for (int64_t p = 0; p < depth; ++p) {
          const T* __restrict a_row = a_panel.data() + p * kRows;
          const T* b_row = b_panel.data() + p * kCols;
          for (int64_t jj = 0; jj < cols; ++jj) {
            const T b_value = b_row[jj];
            T* __restrict sum = sums.data() + jj * kRows;
            for (int64_t ii = 0; ii < kRows; ++ii) sum[ii] = std::fma(a_row[ii], b_value, sum[ii]);
          }
        }
      }
      for (int64_t jj = 0; jj < cols; ++jj)
        for (int64_t ii = 0; ii < rows; ++ii) store(i0 + ii, j0 + jj, sums[jj * kRows + ii]);
    }
  }
}

}  // namespace clipgrad::cuda::emulator::detail

namespace clipgrad::cuda::emulator::detail {

// A library's output: alpha * sum + beta * prior, the prior not read when
// beta is 0, as fma(alpha, sum, beta * prior): the rounding fixed whatever
// the compiler contracts.
template <class T>
T blend(T alpha, T sum, T beta, const T* prior) {
  return std::fma(alpha, sum, beta != T(0) ? beta * *prior : T(0));
}

}  // namespace clipgrad::cuda::emulator::detail
