#include "tensor/cuda/fused/fused_kernels.h"

#include "tensor/cuda/fused/attention.h"
#include "tensor/cuda/fused/contrastive.h"

namespace clipgrad::cuda_backend {

void fill_cuda_fused_kernels(ops::Kernels& table) {
  table.attention_heads = &cuda_fused::attention_heads;
  table.attention_heads_backward = &cuda_fused::attention_heads_backward;
  table.contrastive_cross_entropy = &cuda_fused::contrastive_cross_entropy;
}

}  // namespace clipgrad::cuda_backend
