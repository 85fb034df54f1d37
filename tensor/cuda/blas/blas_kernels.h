// The CUDA kernel table's entries that stand on NVIDIA's libraries: gemm and
// gemm_bias (cuBLASLt), conv2d and conv2d_backward (cuDNN), batch_norm and
// batch_norm_backward (our kernels, PyTorch's running-statistics rule).
// tensor/cuda/kernels.cpp calls the fill function when this folder is built.
#pragma once

#include "tensor/ops/kernels.h"

namespace clipgrad::cuda_backend {

void fill_cuda_blas_kernels(ops::Kernels& table);

}  // namespace clipgrad::cuda_backend
