#include "tensor/cpu/kernels.h"

namespace clipgrad::cpu {

const ops::Kernels& kernels() {
  static const ops::Kernels table = [] {
    ops::Kernels filled;
    fill_elementwise_kernels(filled);
    fill_reduce_kernels(filled);
    fill_contrastive_kernels(filled);
    fill_shape_kernels(filled);
    fill_conv_kernels(filled);
    fill_batch_norm_kernels(filled);
    fill_attention_kernels(filled);
    fill_gemm_kernels(filled);
    fill_optim_kernels(filled);
    return filled;
  }();
  return table;
}

}  // namespace clipgrad::cpu
