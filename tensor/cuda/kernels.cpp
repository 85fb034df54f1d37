#include "tensor/cuda/kernels.h"

#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/runtime.h"

// The GPU libraries' kernels (gemm, conv, batch norm, attention) come from a
// sibling folder built by another part of the backend; this folder builds and
// runs without them (those ops then report a missing CUDA kernel).
#if __has_include("tensor/cuda/blas/blas_kernels.h")
#include "tensor/cuda/blas/blas_kernels.h"
#define CLIPGRAD_HAVE_CUDA_BLAS_KERNELS 1
#endif
#if __has_include("tensor/cuda/fused/fused_kernels.h")
#include "tensor/cuda/fused/fused_kernels.h"
#define CLIPGRAD_HAVE_CUDA_FUSED_KERNELS 1
#endif

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
#ifdef CLIPGRAD_HAVE_CUDA_BLAS_KERNELS
  fill_cuda_blas_kernels(table);
#endif
#ifdef CLIPGRAD_HAVE_CUDA_FUSED_KERNELS
  fill_cuda_fused_kernels(table);
#endif
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
