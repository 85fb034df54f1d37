// Matrix products: a strided-batched GEMM that every device implements, and
// the device-agnostic matmul and linear (with their backward) built on it.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace clipgrad::ops {

// c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i] for i < batch, row-major:
//   op(a[i]) [m, k]: a stored [m, k] from element i * stride_a, or [k, m] when trans_a
//   op(b[i]) [k, n]: b stored [k, n] from element i * stride_b, or [n, k] when trans_b
//   c[i]     [m, n] from element i * stride_c
// A stride of 0 reuses one matrix for the whole batch. a, b and c share a
// floating dtype and a device; c may be a view. Dimensions past the BLAS
// integer range are an error.
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

// TF32 tensor cores for f32 GEMMs and convolutions on devices that have them
// (10 mantissa bits per product, f32 accumulation). Off by default, as in
// PyTorch; `--tf32` turns it on. The CPU ignores it.
void set_tf32(bool enabled);
bool tf32_enabled();

// a [..., M, K] (or [..., K, M] if trans_a), b [..., K, N] (or [..., N, K] if
// trans_b) -> [..., M, N]. Batch dims must match, or b may be 2-D and shared.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
struct MatmulGrads {
  Tensor a;  // a's shape
  Tensor b;  // b's shape; a shared b sums over the batch
};
// grad [..., M, N] of matmul(a, b, trans_a, trans_b); only the gradients asked for are defined.
MatmulGrads matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
                            bool need_a, bool need_b);

// x [..., in], weight [out, in], bias [out] (may be undefined) -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
struct LinearGrads {
  Tensor x;       // [..., in]
  Tensor weight;  // [out, in]
  Tensor bias;    // [out]
};
// grad [..., out] of linear(x, weight, bias); only the gradients asked for are defined.
LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, bool need_x,
                            bool need_weight, bool need_bias);

}  // namespace clipgrad::ops
