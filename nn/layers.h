// The layers CLIP is built from. Parameter names and shapes follow PyTorch's
// modules of the same name, so state dicts load unchanged. Parameters start
// zeroed; nn/init.h and the model's own init rule give them values.
#pragma once

#include "autograd/functional.h"
#include "nn/module.h"

namespace clipgrad::nn {

// weight [out, in], bias [out]; x [..., in] -> [..., out]
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Variable forward(const Variable& x) const;
  Variable& weight;
  Variable* bias = nullptr;  // null without bias
};

// weight, bias [D]; over the last dim
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t features, double eps = 1e-5);
  Variable forward(const Variable& x) const;
  Variable& weight;
  Variable& bias;
  double eps;
};

// weight [V, D]; ids i32 [...] -> [..., D]
class Embedding : public Module {
 public:
  Embedding(int64_t vocab, int64_t features);
  Variable forward(const Tensor& ids) const;
  Variable& weight;
};

// weight [O, C, k, k], bias [O]; x [N, C, H, W] -> [N, O, H', W']
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = true);
  Variable forward(const Variable& x) const;
  Variable& weight;
  Variable* bias = nullptr;
  int64_t stride, padding;
};

// weight, bias, running_mean, running_var [C]; num_batches_tracked [] (i32,
// saved as I64 like PyTorch). Train mode uses batch statistics and updates the
// running ones (momentum 0.1, unbiased variance); eval mode uses running stats.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Variable forward(const Variable& x);
  Variable& weight;
  Variable& bias;
  Tensor& running_mean;
  Tensor& running_var;
  Tensor& num_batches_tracked;
  double eps, momentum;
};

// OpenAI's nn.MultiheadAttention parameters: in_proj_weight [3D, D],
// in_proj_bias [3D], out_proj.weight [D, D], out_proj.bias [D].
// Self-attention on x [N, L, D] with an optional additive mask [L, L].
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t features, int64_t heads);
  Variable forward(const Variable& x, const Tensor& mask = {}) const;
  Variable& in_proj_weight;
  Variable& in_proj_bias;
  std::shared_ptr<Linear> out_proj;
  int64_t heads;
};

}  // namespace clipgrad::nn
