// The CPU backend: one kernel per raw op (tensor/ops/op_list.h), each in the
// file of its family (tensor/cpu/FAMILY.cpp) and named after its op, with
// the op's own signature: cpu::layer_norm is declared here from
// ops::layer_norm's type. tensor/ops/dispatch.cpp fills the CPU table with
// them. Arguments are checked once, before dispatch (tensor/ops/*.cpp); a
// kernel checks only what it alone knows (its dtype support, index values).
#pragma once

#include <type_traits>

#include "tensor/ops/kernels.h"

namespace clipgrad::cpu {

#define CLIPGRAD_DECLARE_CPU_KERNEL(family, op) std::remove_pointer_t<decltype(&ops::op)> op;
CLIPGRAD_RAW_OPS(CLIPGRAD_DECLARE_CPU_KERNEL)
#undef CLIPGRAD_DECLARE_CPU_KERNEL

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

}  // namespace clipgrad::cpu
