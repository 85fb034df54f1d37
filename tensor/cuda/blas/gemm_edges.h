// The edges of GEMM that cuBLASLt does not cover, as kernels of ours
// (gemm_edges.cu), shared by the cuBLASLt GEMM and the emulated build's.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace clipgrad::cuda {

// c[i] = beta * c[i] for each of `batch` [m, n] matrices stride_c apart (a product with k = 0;
// beta 0 overwrites, NaNs included, as BLAS does).
void scale_matrices(Tensor& c, int64_t batch, int64_t m, int64_t n, int64_t stride_c, double beta);
// Every row of c [m, n] = bias [n].
void fill_rows_with_bias(Tensor& c, const Tensor& bias, int64_t m, int64_t n);

}  // namespace clipgrad::cuda
