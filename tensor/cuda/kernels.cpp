#include "tensor/cuda/kernels.h"

#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/runtime.h"

// The GPU libraries' kernels (gemm, conv, batch norm: cuBLASLt and cuDNN)
// and the fused ones (attention, contrastive cross-entropy) live in the two
// sibling folders.
#include "tensor/cuda/blas/blas_kernels.h"
#include "tensor/cuda/fused/fused_kernels.h"

namespace clipgrad::cuda_backend {

void fill_cuda_kernels(ops::Kernels& table) {
  cuda_kernels::fill_elementwise_kernels(table);
  cuda_kernels::fill_sum_kernels(table);
  cuda_kernels::fill_softmax_kernels(table);
  cuda_kernels::fill_norm_kernels(table);
  cuda_kernels::fill_shape_kernels(table);
  cuda_kernels::fill_indexing_kernels(table);
  cuda_kernels::fill_pool_kernels(table);
  cuda_kernels::fill_optim_kernels(table);
  fill_cuda_blas_kernels(table);
  fill_cuda_fused_kernels(table);
}

const ops::Kernels& kernels() {
  static std::once_flag once;
  static ops::Kernels table;
  std::call_once(once, [] {
    if (!cuda::available())
      throw std::runtime_error("no CUDA device: this machine has no GPU or no NVIDIA driver; use the CPU (--device cpu)");
    fill_cuda_kernels(table);
  });
  return table;
}

}  // namespace clipgrad::cuda_backend
