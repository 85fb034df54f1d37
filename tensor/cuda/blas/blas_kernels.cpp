#include "tensor/cuda/blas/blas_kernels.h"

#include "tensor/cuda/blas/batch_norm.h"
#include "tensor/cuda/blas/conv.h"
#include "tensor/cuda/blas/gemm.h"

namespace clipgrad::cuda_backend {

void fill_cuda_blas_kernels(ops::Kernels& table) {
  table.gemm = &cuda_blas::gemm;
  table.gemm_bias = &cuda_blas::gemm_bias;
  table.conv2d = &cuda_blas::conv2d;
  table.conv2d_backward = &cuda_blas::conv2d_backward;
  table.batch_norm = &cuda_blas::batch_norm;
  table.batch_norm_backward = &cuda_blas::batch_norm_backward;
}

}  // namespace clipgrad::cuda_backend
