// OpenAI's transformer pieces, shared by the vision and text towers: the MLP,
// the pre-norm residual attention block and the stack of blocks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clip/model/config.h"
#include "nn/layers.h"
#include "tensor/random.h"

namespace clipgrad::clip {

// An nn.Sequential of one module type: children named "0", "1", ...
template <class M>
class ModuleList : public nn::Module {
 public:
  void push_back(std::shared_ptr<M> module) { items.push_back(register_module(std::to_string(items.size()), module)); }
  std::vector<std::shared_ptr<M>> items;
};

Variable activate(const Variable& x, Activation activation);

// c_fc [4D, D] -> activation -> c_proj [D, 4D]
class Mlp : public nn::Module {
 public:
  Mlp(int64_t width, Activation activation);
  Variable forward(const Variable& x) const;  // x [N, L, D] -> [N, L, D]
  std::shared_ptr<nn::Linear> c_fc, c_proj;
  Activation activation;
};

// Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
class ResidualAttentionBlock : public nn::Module {
 public:
  ResidualAttentionBlock(int64_t width, int64_t heads, Activation activation, double eps);
  // x [N, L, D], mask [L, L] additive (may be undefined) -> [N, L, D]
  Variable forward(const Variable& x, const Tensor& mask) const;
  std::shared_ptr<nn::MultiheadAttention> attn;
  std::shared_ptr<nn::LayerNorm> ln_1;
  std::shared_ptr<Mlp> mlp;
  std::shared_ptr<nn::LayerNorm> ln_2;
};

class Transformer : public nn::Module {
 public:
  Transformer(int64_t width, int64_t layers, int64_t heads, Activation activation, double eps);
  Variable forward(const Variable& x, const Tensor& mask = {}) const;  // x [N, L, D] -> [N, L, D]
  // OpenAI's initialize_parameters rule for the text transformer's blocks.
  void init_openai(Generator& generator);
  // PyTorch's defaults (nn.MultiheadAttention, nn.Linear, nn.LayerNorm).
  void init_default(Generator& generator);
  int64_t width, layers;
  std::shared_ptr<ModuleList<ResidualAttentionBlock>> resblocks;
  // Gradient checkpointing (fn::checkpoint): each block keeps only its input and
  // is recomputed in backward; the same gradients, to the bit.
  bool grad_checkpointing = false;
};

}  // namespace clipgrad::clip
