// The CUDA kernel table's fused entries: attention_heads and its backward (a
// fused kernel that keeps each query's scores on chip for up to 257 keys, batched
// GEMMs beyond), and contrastive_cross_entropy (online log-sum-exp of every
// row and column, no softmax matrix). tensor/cuda/kernels.cpp calls the fill
// function when this folder is built.
#pragma once

#include "tensor/ops/kernels.h"

namespace clipgrad::cuda_backend {

void fill_cuda_fused_kernels(ops::Kernels& table);

}  // namespace clipgrad::cuda_backend
