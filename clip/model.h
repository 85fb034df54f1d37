// The CLIP model exactly as OpenAI's clip/model.py defines it: the same
// modules, parameter names, shapes, forward computation and initialisation.
// One difference in layout only: sequences are batch-first ([N, L, D]) where
// OpenAI permutes to [L, N, D] for nn.MultiheadAttention.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clip/config.h"
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

// Throws unless pixels is [N, 3, resolution, resolution], naming the encoder.
void check_pixels(const Variable& pixels, int64_t resolution, const char* encoder);

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
};

// The image encoders: pixels [N, 3, R, R] -> features [N, E].
class VisionEncoder : public nn::Module {
 public:
  virtual Variable forward(const Variable& pixels) = 0;
  virtual void init_openai(Generator& generator) = 0;
};

class VisionTransformer : public VisionEncoder {
 public:
  VisionTransformer(int64_t resolution, int64_t patch_size, int64_t width, int64_t layers, int64_t heads,
                    int64_t output_dim, Activation activation, double eps);
  Variable forward(const Variable& pixels) override;
  void init_openai(Generator& generator) override;

  int64_t resolution, patch_size, width;
  Variable& class_embedding;          // [W]
  Variable& positional_embedding;     // [(R / P)^2 + 1, W]
  Variable& proj;                     // [W, E]
  std::shared_ptr<nn::Conv2d> conv1;  // weight [W, 3, P, P], no bias
  std::shared_ptr<nn::LayerNorm> ln_pre;
  std::shared_ptr<Transformer> transformer;
  std::shared_ptr<nn::LayerNorm> ln_post;
};

// ResNet bottleneck with OpenAI's anti-aliased strides: an average pool
// (after conv2) does the downsampling, and the shortcut pools before its 1x1 conv.
class Bottleneck : public nn::Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride);
  Variable forward(const Variable& x);  // [N, inplanes, H, W] -> [N, 4 planes, H / stride, W / stride]

  int64_t stride;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;  // 1x1, 3x3 (padding 1), 1x1; no bias
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  // Present when stride > 1 or the channel count changes: "0" the 1x1 conv, "1" its BatchNorm.
  struct Downsample : nn::Module {
    Downsample(int64_t inplanes, int64_t outplanes);
    std::shared_ptr<nn::Conv2d> conv;
    std::shared_ptr<nn::BatchNorm2d> bn;
  };
  std::shared_ptr<Downsample> downsample;
};

// Attention pooling over the final feature map: a mean token queries all
// positions. Separate q/k/v projections [C, C], c_proj [E, C].
class AttentionPool2d : public nn::Module {
 public:
  AttentionPool2d(int64_t spacial_dim, int64_t embed_dim, int64_t heads, int64_t output_dim);
  Variable forward(const Variable& x) const;  // x [N, C, S, S] -> [N, E]
  int64_t spacial_dim, heads;
  Variable& positional_embedding;  // [S^2 + 1, C]
  std::shared_ptr<nn::Linear> k_proj, q_proj, v_proj, c_proj;
};

class ModifiedResNet : public VisionEncoder {
 public:
  ModifiedResNet(const std::vector<int64_t>& layers, int64_t output_dim, int64_t heads, int64_t resolution,
                 int64_t width);
  Variable forward(const Variable& pixels) override;
  void init_openai(Generator& generator) override;

  int64_t resolution;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;  // stem: 3x3 stride 2, 3x3, 3x3; no bias
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::vector<std::shared_ptr<ModuleList<Bottleneck>>> stages;  // layer1..layer4
  std::shared_ptr<AttentionPool2d> attnpool;
};

class ClipModel : public nn::Module {
  // First, so that it is resolved before the layers are sized from it.
  ClipConfig config_;

 public:
  // Parameters start as nn layers leave them (zeroed, norms at 1); call
  // init_openai or load a state dict.
  explicit ClipModel(const ClipConfig& config);

  // pixels [N, 3, R, R] (R = image_resolution) -> [N, E], unnormalised
  Variable encode_image(const Variable& pixels);
  // tokens i32 [N, L], L <= context_length -> [N, E], unnormalised
  Variable encode_text(const Tensor& tokens);
  // tokens i32 [N, L] -> i32 [N]: the position whose feature represents each
  // text (the EOT token; see ClipConfig::eos_token_id).
  Tensor eot_positions(const Tensor& tokens) const;

  // OpenAI's initialize_parameters, with PyTorch's default init for the rest.
  void init_openai(Generator& generator);

  const ClipConfig& config() const { return config_; }

  Variable& positional_embedding;  // [context_length, Dt]
  Variable& text_projection;       // [Dt, E]
  Variable& logit_scale;           // []
  std::shared_ptr<VisionEncoder> visual;
  std::shared_ptr<Transformer> transformer;
  std::shared_ptr<nn::Embedding> token_embedding;  // [vocab, Dt]
  std::shared_ptr<nn::LayerNorm> ln_final;
};

}  // namespace clipgrad::clip
