// The CPU's kernel table (tensor/ops/kernels.h), filled by the kernel files of
// this folder, one fill function each.
#pragma once

#include <vector>

#include "tensor/ops/kernels.h"

namespace clipgrad::cpu {

const ops::Kernels& kernels();

// The result types of the raw-op API, for the kernels that return them.
using ops::BatchNormGrads;
using ops::BatchNormSaved;
using ops::Conv2dGrads;
using ops::LayerNormGrads;
using ops::LayerNormOutput;

// The shape rules (tensor/shape_rules.h).
using ops::broadcast_shape;
using ops::inverse_permutation;
using ops::normalize_dim;

// Kernels that other CPU kernels call directly (no dispatch within a device).
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // shape.cpp
Tensor sum_all(const Tensor& x);                                    // reduce.cpp

void fill_elementwise_kernels(ops::Kernels& table);  // elementwise.cpp
void fill_reduce_kernels(ops::Kernels& table);       // reduce.cpp
void fill_contrastive_kernels(ops::Kernels& table);  // contrastive.cpp
void fill_shape_kernels(ops::Kernels& table);        // shape.cpp
void fill_conv_kernels(ops::Kernels& table);         // conv.cpp
void fill_batch_norm_kernels(ops::Kernels& table);   // batch_norm.cpp
void fill_attention_kernels(ops::Kernels& table);    // attention.cpp
void fill_gemm_kernels(ops::Kernels& table);         // gemm.cpp
void fill_optim_kernels(ops::Kernels& table);        // optim.cpp

}  // namespace clipgrad::cpu
