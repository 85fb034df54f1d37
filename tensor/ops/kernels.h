// The kernel table: every raw op a device implements, one entry each, read
// top to bottom. tensor/ops/*.cpp check the operands' device and call the
// entry of that device's table (kernel() in tensor/ops/dispatch.h, the one
// place where ops meet devices); tensor/cpu/ fills the CPU table and the
// CUDA backend fills its own. An entry a device lacks stays null and its op
// fails there with a message naming the op and the device.
#pragma once

#include <vector>

#include "tensor/ops/attention.h"
#include "tensor/ops/conv.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/linalg.h"
#include "tensor/ops/optim.h"
#include "tensor/ops/reduce.h"
#include "tensor/ops/shape.h"

namespace clipgrad::ops {

struct Kernels {
  // tensor/ops/elementwise.h
  Tensor (*add)(const Tensor&, const Tensor&) = nullptr;
  void (*add_inplace)(Tensor&, const Tensor&) = nullptr;
  Tensor (*scale)(const Tensor&, double) = nullptr;
  Tensor (*sub)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*mul)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*div)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*broadcast_to)(const Tensor&, const Shape&) = nullptr;
  Tensor (*sum_to_shape)(const Tensor&, const Shape&) = nullptr;
  Tensor (*exp)(const Tensor&) = nullptr;
  Tensor (*log)(const Tensor&) = nullptr;
  Tensor (*rsqrt)(const Tensor&) = nullptr;
  Tensor (*relu)(const Tensor&) = nullptr;
  Tensor (*gelu)(const Tensor&) = nullptr;
  Tensor (*quick_gelu)(const Tensor&) = nullptr;
  Tensor (*rsqrt_backward)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*relu_backward)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*gelu_backward)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*quick_gelu_backward)(const Tensor&, const Tensor&) = nullptr;
  // tensor/ops/reduce.h
  Tensor (*sum)(const Tensor&, int64_t, bool) = nullptr;
  Tensor (*mean)(const Tensor&, int64_t, bool) = nullptr;
  Tensor (*sum_all)(const Tensor&) = nullptr;
  Tensor (*softmax)(const Tensor&, int64_t) = nullptr;
  Tensor (*log_softmax)(const Tensor&, int64_t) = nullptr;
  Tensor (*softmax_backward)(const Tensor&, const Tensor&, int64_t) = nullptr;
  Tensor (*log_softmax_backward)(const Tensor&, const Tensor&, int64_t) = nullptr;
  Tensor (*cross_entropy)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*cross_entropy_backward)(const Tensor&, const Tensor&, double) = nullptr;
  ContrastiveCrossEntropy (*contrastive_cross_entropy)(const Tensor&, ContrastiveDirections) = nullptr;
  LayerNormOutput (*layer_norm)(const Tensor&, const Tensor&, const Tensor&, double) = nullptr;
  LayerNormGrads (*layer_norm_backward)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, bool, bool) = nullptr;
  Tensor (*l2_normalize)(const Tensor&, int64_t, double) = nullptr;
  Tensor (*l2_normalize_backward)(const Tensor&, const Tensor&, int64_t, double) = nullptr;
  // tensor/ops/shape.h
  Tensor (*permute)(const Tensor&, const std::vector<int64_t>&) = nullptr;
  Tensor (*concat)(const std::vector<Tensor>&, int64_t) = nullptr;
  Tensor (*narrow)(const Tensor&, int64_t, int64_t, int64_t) = nullptr;
  Tensor (*narrow_backward)(const Tensor&, const Shape&, int64_t, int64_t) = nullptr;
  Tensor (*index_rows)(const Tensor&, const std::vector<int64_t>&) = nullptr;
  Tensor (*embedding)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*embedding_backward)(const Tensor&, const Tensor&, int64_t) = nullptr;
  Tensor (*gather_rows)(const Tensor&, const Tensor&) = nullptr;
  Tensor (*gather_rows_backward)(const Tensor&, const Tensor&, int64_t) = nullptr;
  // tensor/ops/conv.h
  Tensor (*conv2d)(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t) = nullptr;
  Conv2dGrads (*conv2d_backward)(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, bool, bool, bool) = nullptr;
  Tensor (*avg_pool2d)(const Tensor&, int64_t) = nullptr;
  Tensor (*avg_pool2d_backward)(const Tensor&, const Shape&, int64_t) = nullptr;
  Tensor (*batch_norm)(const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, bool, double, double, BatchNormSaved&) = nullptr;
  BatchNormGrads (*batch_norm_backward)(const Tensor&, const Tensor&, const Tensor&, const BatchNormSaved&, bool, bool, bool) = nullptr;
  // tensor/ops/attention.h
  Tensor (*attention_heads)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, Tensor&) = nullptr;
  void (*attention_heads_backward)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, Tensor*, Tensor*, Tensor*) = nullptr;
  // tensor/ops/linalg.h
  void (*gemm)(const GemmArgs&, const Tensor&, const Tensor&, Tensor&) = nullptr;
  void (*gemm_bias)(const GemmArgs&, const Tensor&, const Tensor&, const Tensor&, Tensor&) = nullptr;
  // tensor/ops/optim.h
  void (*adamw_update)(Tensor&, const Tensor&, Tensor&, Tensor&, const AdamWCoefficients&) = nullptr;
  double (*sum_squares)(const Tensor&) = nullptr;
  double (*sum_squares_of)(const std::vector<Tensor>&) = nullptr;
};

}  // namespace clipgrad::ops
