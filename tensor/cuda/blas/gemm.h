// Strided-batched GEMM on CUDA tensors through cuBLASLt, with the semantics of
// ops::gemm (tensor/ops/linalg.h): row-major, transposes, alpha/beta, batch
// strides (0 reuses one matrix). The fused attention of tensor/cuda/fused
// calls it directly (no dispatch within a device).
#pragma once

#include "tensor/ops/linalg.h"

namespace clipgrad::cuda_blas {

void gemm(const ops::GemmArgs& args, const Tensor& a, const Tensor& b, Tensor& c);
// c [m, n] = alpha * op(a) @ op(b) + bias [n] per row: cuBLASLt's bias epilogue.
void gemm_bias(const ops::GemmArgs& args, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c);

// The small kernels around GEMM's edge cases (gemm_edges.cu).
// c[i] *= beta for each of `batch` [m, n] matrices stride_c apart (a product with k = 0).
void scale_matrices(Tensor& c, int64_t batch, int64_t m, int64_t n, int64_t stride_c, double beta);
// Every row of c [m, n] = bias [n].
void fill_rows_with_bias(Tensor& c, const Tensor& bias, int64_t m, int64_t n);

}  // namespace clipgrad::cuda_blas
