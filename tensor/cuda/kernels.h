// The CUDA backend: one kernel per raw op (tensor/ops/op_list.h), named after
// its op, with the op's own signature (cuda::layer_norm is declared here from
// ops::layer_norm's type), in the file of its family:
//   tensor/cuda/FAMILY.cu        our kernels;
//   tensor/cuda/blas/FAMILY.cpp  the ops that stand on NVIDIA's libraries
//                                (gemm: cuBLASLt, conv: cuDNN);
//   tensor/cuda/fused/FAMILY.cu  the hand-fused kernels (attention, contrastive).
// The CPU twin of each file is tensor/cpu/FAMILY.cpp. tensor/ops/dispatch.cpp
// fills the CUDA table with these on first use. Arguments are checked once,
// before dispatch (tensor/ops/*.cpp); a kernel checks only what it alone
// knows (its dtype support, CUDA's grid limits).
//
// Device memory comes from allocator_for(Device::CUDA) (tensor/tensor.cpp),
// the caching allocator of cuda/. Every launch goes through cuda/launch.h.
#pragma once

#include <cstdint>
#include <type_traits>

#include "tensor/ops/kernels.h"

namespace clipgrad::cuda {

#define CLIPGRAD_DECLARE_CUDA_KERNEL(family, op) std::remove_pointer_t<decltype(&ops::op)> op;
CLIPGRAD_RAW_OPS(CLIPGRAD_DECLARE_CUDA_KERNEL)
#undef CLIPGRAD_DECLARE_CUDA_KERNEL

// Whether attention over `keys` keys of head_dim features runs fused on the
// current device, else as batched GEMMs (fused/attention.cu).
bool attention_runs_fused(int64_t keys, int64_t head_dim);

}  // namespace clipgrad::cuda
