// OpenAI's ModifiedResNet image tower: a three-conv stem, anti-aliased
// bottleneck stages, and attention pooling in place of global average pooling.
#pragma once

#include <memory>
#include <vector>

#include "clip/model/residual_block.h"
#include "clip/model/vision_encoder.h"

namespace clipgrad::clip {

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

}  // namespace clipgrad::clip
