// The raw ops, each named once. A raw op is one kernel per device behind one
// device-agnostic function `ops::NAME`, declared in a header of tensor/ops/
// (a header may hold several families: reduce.h holds reduce, contrastive and
// norms; conv.h holds conv, pool and batch_norm). Everything that spells an
// op's name is generated from this list:
//   - the kernel table's entries, with the op's own signature (kernels.h);
//   - RawOp, the enum dispatch takes, and the op's name in its errors;
//   - each backend's kernel declarations and its filled table
//     (tensor/cpu/kernels.h, tensor/cuda/kernels.h);
//   - the tests that every device has every op and that every op has a
//     gradcheck and device-parity entry (tests/tensor/ops/).
//
// X(FAMILY, NAME): FAMILY names the kernel file in each backend
// (tensor/cpu/FAMILY.cpp, tensor/cuda/FAMILY.cu or blas/FAMILY.cpp or
// fused/FAMILY.cu), so a reader goes from `ops::NAME` to both kernels by the
// family's name (tests/layout/check_op_files.sh keeps it so).
// Adding an op: see "Adding an op" in docs/ARCHITECTURE.md.
#pragma once

#define CLIPGRAD_RAW_OPS(X)                 \
  X(elementwise, add)                       \
  X(elementwise, add_inplace)               \
  X(elementwise, fill)                      \
  X(elementwise, add_scalar_inplace)        \
  X(elementwise, convert)                   \
  X(elementwise, scale)                     \
  X(elementwise, sub)                       \
  X(elementwise, mul)                       \
  X(elementwise, div)                       \
  X(elementwise, broadcast_to)              \
  X(elementwise, sum_to_shape)              \
  X(elementwise, exp)                       \
  X(elementwise, log)                       \
  X(elementwise, rsqrt)                     \
  X(elementwise, relu)                      \
  X(elementwise, gelu)                      \
  X(elementwise, quick_gelu)                \
  X(elementwise, rsqrt_backward)            \
  X(elementwise, relu_backward)             \
  X(elementwise, gelu_backward)             \
  X(elementwise, quick_gelu_backward)       \
  X(reduce, sum)                            \
  X(reduce, mean)                           \
  X(reduce, sum_all)                        \
  X(reduce, softmax)                        \
  X(reduce, log_softmax)                    \
  X(reduce, softmax_backward)               \
  X(reduce, log_softmax_backward)           \
  X(reduce, cross_entropy)                  \
  X(reduce, cross_entropy_backward)         \
  X(contrastive, contrastive_cross_entropy) \
  X(norms, layer_norm)                      \
  X(norms, layer_norm_backward)             \
  X(norms, l2_normalize)                    \
  X(norms, l2_normalize_backward)           \
  X(shape, permute)                         \
  X(shape, concat)                          \
  X(shape, narrow)                          \
  X(shape, narrow_backward)                 \
  X(indexing, index_rows)                   \
  X(indexing, embedding)                    \
  X(indexing, embedding_backward)           \
  X(indexing, eot_positions)                \
  X(indexing, gather_rows)                  \
  X(indexing, gather_rows_backward)         \
  X(conv, conv2d)                           \
  X(conv, conv2d_backward)                  \
  X(pool, avg_pool2d)                       \
  X(pool, avg_pool2d_backward)              \
  X(batch_norm, batch_norm)                 \
  X(batch_norm, batch_norm_backward)        \
  X(attention, attention_heads)             \
  X(attention, attention_heads_backward)    \
  X(gemm, gemm)                             \
  X(gemm, gemm_bias)                        \
  X(optim, adamw_update)                    \
  X(optim, multi_tensor_adamw)              \
  X(optim, sum_squares)                     \
  X(optim, sum_squares_of)                  \
  X(optim, clip_coefficient)
