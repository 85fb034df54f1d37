// The CLIP model: its two towers, and OpenAI's initialisation. The text
// tower's forward (ClipModel::encode_text, eot_positions) is in text_tower.cpp,
// beside this file; both define the members of model.h.
#include "clip/model/model.h"

#include <cmath>
#include <stdexcept>

#include "clip/model/modified_resnet.h"
#include "clip/model/vision_transformer.h"
#include "nn/init.h"

namespace clipgrad::clip {

ClipModel::ClipModel(const ClipConfig& config)
    : config_(config.resolved()),
      positional_embedding(register_parameter("positional_embedding",
                                              Tensor::zeros({config_.context_length, config_.transformer_width}))),
      text_projection(
          register_parameter("text_projection", Tensor::zeros({config_.transformer_width, config_.embed_dim}))),
      logit_scale(register_parameter("logit_scale", Tensor::scalar(std::log(1 / 0.07)))) {
  const ClipConfig& c = config_;
  if (c.is_resnet()) {
    visual = register_module("visual", std::make_shared<ModifiedResNet>(c.vision_layers, c.embed_dim, c.vision_heads,
                                                                        c.image_resolution, c.vision_width));
  } else {
    visual = register_module("visual", std::make_shared<VisionTransformer>(
                                           c.image_resolution, c.vision_patch_size, c.vision_width, c.vision_layers[0],
                                           c.vision_heads, c.embed_dim, c.activation, c.layer_norm_eps));
  }
  transformer = register_module(
      "transformer", std::make_shared<Transformer>(c.transformer_width, c.transformer_layers, c.transformer_heads,
                                                   c.activation, c.layer_norm_eps));
  token_embedding =
      register_module("token_embedding", std::make_shared<nn::Embedding>(c.vocab_size, c.transformer_width));
  ln_final = register_module("ln_final", std::make_shared<nn::LayerNorm>(c.transformer_width, c.layer_norm_eps));
}

Variable ClipModel::encode_image(const Variable& pixels) { return visual->forward(pixels); }

void ClipModel::set_grad_checkpointing(bool enabled) {
  transformer->grad_checkpointing = enabled;
  if (auto vit = std::dynamic_pointer_cast<VisionTransformer>(visual)) vit->transformer->grad_checkpointing = enabled;
}

void ClipModel::init_openai(Generator& generator) {
  nn::init::normal_(token_embedding->weight, 0.02, generator);
  nn::init::normal_(positional_embedding, 0.01, generator);
  visual->init_openai(generator);
  transformer->init_default(generator);
  transformer->init_openai(generator);
  nn::init::ones_(ln_final->weight);
  nn::init::zeros_(ln_final->bias);
  nn::init::normal_(text_projection, std::pow(static_cast<double>(config_.transformer_width), -0.5), generator);
  logit_scale.value().fill(std::log(1 / 0.07));
}

}  // namespace clipgrad::clip
