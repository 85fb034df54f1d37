// ClipConfig: the hyper-parameters of OpenAI's CLIP class (clip/model.py),
// plus the few that OpenAI fixes in code but other checkpoints vary
// (activation, LayerNorm eps, vision heads, the text pooling rule).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::clip {

enum class Activation { QuickGelu, Gelu };

const char* activation_name(Activation activation);    // "quick_gelu" or "gelu"
Activation parse_activation(const std::string& name);  // throws listing the valid names

struct ClipConfig {
  int64_t embed_dim = 0;
  int64_t image_resolution = 0;
  // One entry (the block count) for a ViT, four (blocks per stage) for a ModifiedResNet.
  std::vector<int64_t> vision_layers;
  int64_t vision_width = 0;
  int64_t vision_patch_size = 0;  // 0 for a ModifiedResNet
  int64_t context_length = 0;
  int64_t vocab_size = 0;
  int64_t transformer_width = 0;
  int64_t transformer_heads = 0;
  int64_t transformer_layers = 0;
  // 0 means OpenAI's rule: ViT width / 64, ResNet width * 32 / 64 (see resolved()).
  int64_t vision_heads = 0;
  Activation activation = Activation::QuickGelu;
  double layer_norm_eps = 1e-5;
  // The text feature is taken at the end-of-text token: -1 = OpenAI's rule
  // (argmax over token ids, the EOT id being the largest); otherwise the first
  // position holding this id (Hugging Face, for eos ids other than 2).
  int64_t eos_token_id = -1;

  bool is_resnet() const { return vision_layers.size() == 4; }
  int64_t default_vision_heads() const;
  // A copy with vision_heads filled in; throws if the sizes do not fit together
  // (wrong layer count, widths not divisible by heads, resolution not a
  // multiple of the patch size or of 32 for a ResNet).
  ClipConfig resolved() const;

  // OpenAI's key names (the `clip_config` metadata of our checkpoints):
  // vision_layers is an int for a ViT and a list for a ResNet, and
  // vision_patch_size is null for a ResNet; activation, layer_norm_eps,
  // vision_heads and eos_token_id are ours and optional on read.
  nlohmann::json to_json() const;
  static ClipConfig from_json(const nlohmann::json& json);  // resolved; throws naming the bad key

  // OpenAI's build_model: every size read from the OpenAI-layout tensor
  // shapes. Head counts follow OpenAI's rule (width / 64), which the shapes
  // cannot confirm.
  static ClipConfig infer(const std::map<std::string, Shape>& shapes);

  // "vit-b-32", "vit-b-16", "vit-l-14", "rn50", "rn101" (OpenAI's published
  // models) and the small CPU models "vit-tiny-28" (28 px, e.g. Fashion-MNIST)
  // and "rn-tiny" (64 px). Throws listing the valid names.
  static ClipConfig named(const std::string& name);
  static std::vector<std::string> names();

  bool operator==(const ClipConfig& other) const = default;
};

}  // namespace clipgrad::clip
