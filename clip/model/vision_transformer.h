// OpenAI's VisionTransformer image tower: patch embedding, class token,
// pre-norm transformer, projection of the class token.
#pragma once

#include <memory>

#include "clip/model/residual_block.h"
#include "clip/model/vision_encoder.h"

namespace clipgrad::clip {

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

}  // namespace clipgrad::clip
