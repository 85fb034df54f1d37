// Matrix products: a strided-batched GEMM that every device implements (a
// raw op), and matmul and linear, the same on every device, built on it.
// Their backwards are in autograd/fn_linear.cpp (docs/ARCHITECTURE.md, "Where
// backward code lives").
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace clipgrad::ops {

// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i] for i < batch, row-major:
//   op(a[i]) [m, k]: a stored [m, k] from element i * stride_a, or [k, m] when trans_a
//   op(b[i]) [k, n]: b stored [k, n] from element i * stride_b, or [n, k] when trans_b
//   c[i]     [m, n] from element i * stride_c
// A stride of 0 reuses one matrix for the whole batch. a, b and c share a
// device and a dtype, f32 or f64; or a and b are bf16 and c is f32 or bf16:
// the products of bf16 operands are summed in f32 and c = alpha sum + beta c
// is rounded once to c's dtype (cuBLASLt's CUBLAS_COMPUTE_32F on bf16, the
// tensor cores' mode; PyTorch's bf16 matmul). c may be a view. Dimensions
// past the BLAS integer range are an error.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;
};
void gemm(const GemmArgs& args, const Tensor& a, const Tensor& b, Tensor& c);
// c [m, n] = alpha * op(a) @ op(b) + bias [n] on every row: one GEMM with a
// bias epilogue where the device has one (batch 1, beta 0; args.beta ignored).
void gemm_bias(const GemmArgs& args, const Tensor& a, const Tensor& b, const Tensor& bias, Tensor& c);

// a [..., M, K] (or [..., K, M] if trans_a), b [..., K, N] (or [..., N, K] if
// trans_b) -> [..., M, N]. Batch dims must match, or b may be 2-D and shared.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
// The sizes of matmul(a, b, trans_a, trans_b): `batch` products of op(a)
// [M, K] and op(b) [K, N]; b_shared when one 2-D b serves every batch entry.
// Throws, naming both shapes, when they do not fit.
struct MatmulDims {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool b_shared = false;
  Shape out_shape;     // [..., M, N]
  bool empty() const;  // no products (BLAS rejects a zero leading dimension: the result is all zeros)
};
MatmulDims matmul_dims(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

// x [..., in], weight [out, in], bias [out] (may be undefined) -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// The rows, input and output features of linear(x, weight, bias); throws for shapes that do not fit.
struct LinearDims {
  int64_t rows, in, out;
};
LinearDims linear_dims(const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace clipgrad::ops
