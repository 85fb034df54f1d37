// The OpenAI-layout state dict of a ClipModel, shapes only: what a checkpoint
// must hold for a config, known before a byte of the model is allocated.
// TorchCheckpoint.ExpectedShapesAreTheModelsStateDict (tests/clip/checkpoint/
// torch_checkpoint_test.cpp) holds it to the model's own state_dict() for ViT
// and ModifiedResNet configs.
#include <string>

#include "clip/checkpoint/checkpoint.h"

namespace clipgrad::clip {

namespace {

using ShapeMap = std::map<std::string, Shape>;

void layer_norm(ShapeMap& out, const std::string& name, int64_t width) {
  out[name + ".weight"] = {width};
  out[name + ".bias"] = {width};
}

void batch_norm(ShapeMap& out, const std::string& name, int64_t channels) {
  for (const char* part : {".weight", ".bias", ".running_mean", ".running_var"}) out[name + part] = {channels};
  out[name + ".num_batches_tracked"] = {};
}

// OpenAI's ResidualAttentionBlock: attention with packed q/k/v, then a 4x MLP.
void transformer(ShapeMap& out, const std::string& prefix, int64_t width, int64_t layers) {
  for (int64_t i = 0; i < layers; ++i) {
    const std::string block = prefix + "resblocks." + std::to_string(i) + ".";
    out[block + "attn.in_proj_weight"] = {3 * width, width};
    out[block + "attn.in_proj_bias"] = {3 * width};
    out[block + "attn.out_proj.weight"] = {width, width};
    out[block + "attn.out_proj.bias"] = {width};
    layer_norm(out, block + "ln_1", width);
    out[block + "mlp.c_fc.weight"] = {4 * width, width};
    out[block + "mlp.c_fc.bias"] = {4 * width};
    out[block + "mlp.c_proj.weight"] = {width, 4 * width};
    out[block + "mlp.c_proj.bias"] = {width};
    layer_norm(out, block + "ln_2", width);
  }
}

void vision_transformer(ShapeMap& out, const ClipConfig& c) {
  const int64_t width = c.vision_width, grid = c.image_resolution / c.vision_patch_size;
  out["visual.conv1.weight"] = {width, 3, c.vision_patch_size, c.vision_patch_size};
  out["visual.class_embedding"] = {width};
  out["visual.positional_embedding"] = {grid * grid + 1, width};
  layer_norm(out, "visual.ln_pre", width);
  transformer(out, "visual.transformer.", width, c.vision_layers[0]);
  layer_norm(out, "visual.ln_post", width);
  out["visual.proj"] = {width, c.embed_dim};
}

// OpenAI's ModifiedResNet: a three-conv stem, four stages of Bottlenecks
// (expansion 4, an avgpool + 1x1 conv + BN downsample where the shape
// changes), and an attention pool over the final grid.
void modified_resnet(ShapeMap& out, const ClipConfig& c) {
  const int64_t width = c.vision_width;
  out["visual.conv1.weight"] = {width / 2, 3, 3, 3};
  batch_norm(out, "visual.bn1", width / 2);
  out["visual.conv2.weight"] = {width / 2, width / 2, 3, 3};
  batch_norm(out, "visual.bn2", width / 2);
  out["visual.conv3.weight"] = {width, width / 2, 3, 3};
  batch_norm(out, "visual.bn3", width);
  int64_t inplanes = width;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = width << stage;
    for (int64_t b = 0; b < c.vision_layers[stage]; ++b) {
      const std::string block = "visual.layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
      out[block + "conv1.weight"] = {planes, inplanes, 1, 1};
      batch_norm(out, block + "bn1", planes);
      out[block + "conv2.weight"] = {planes, planes, 3, 3};
      batch_norm(out, block + "bn2", planes);
      out[block + "conv3.weight"] = {planes * 4, planes, 1, 1};
      batch_norm(out, block + "bn3", planes * 4);
      const bool strided = b == 0 && stage > 0;
      if (strided || inplanes != planes * 4) {
        out[block + "downsample.0.weight"] = {planes * 4, inplanes, 1, 1};
        batch_norm(out, block + "downsample.1", planes * 4);
      }
      inplanes = planes * 4;
    }
  }
  const int64_t embed = width * 32, grid = c.image_resolution / 32;
  out["visual.attnpool.positional_embedding"] = {grid * grid + 1, embed};
  for (const char* projection : {"q_proj", "k_proj", "v_proj"}) {
    out[std::string("visual.attnpool.") + projection + ".weight"] = {embed, embed};
    out[std::string("visual.attnpool.") + projection + ".bias"] = {embed};
  }
  out["visual.attnpool.c_proj.weight"] = {c.embed_dim, embed};
  out["visual.attnpool.c_proj.bias"] = {c.embed_dim};
}

}  // namespace

void check_config_sizes(const ClipConfig& config) {
  auto bound = [](const char* key, int64_t value, int64_t limit) {
    if (value > limit)
      throw std::invalid_argument(std::string("config ") + key + " " + std::to_string(value) + " is absurd (at most " +
                                  std::to_string(limit) + ")");
  };
  bound("embed_dim", config.embed_dim, kMaxConfigWidth);
  bound("image_resolution", config.image_resolution, kMaxConfigWidth);
  bound("vision_width", config.vision_width, kMaxConfigWidth);
  bound("vision_patch_size", config.vision_patch_size, kMaxConfigWidth);
  bound("context_length", config.context_length, kMaxConfigWidth);
  bound("vocab_size", config.vocab_size, kMaxConfigWidth);
  bound("transformer_width", config.transformer_width, kMaxConfigWidth);
  bound("transformer_layers", config.transformer_layers, kMaxConfigLayers);
  for (int64_t layers : config.vision_layers) bound("vision_layers", layers, kMaxConfigLayers);
  bound("transformer_heads", config.transformer_heads, config.transformer_width);
  bound("vision_heads", config.vision_heads, kMaxConfigWidth);
}

std::map<std::string, Shape> expected_shapes(const ClipConfig& config) {
  const ClipConfig c = config.resolved();
  check_config_sizes(c);
  ShapeMap out;
  if (c.is_resnet()) {
    modified_resnet(out, c);
  } else {
    vision_transformer(out, c);
  }
  out["token_embedding.weight"] = {c.vocab_size, c.transformer_width};
  out["positional_embedding"] = {c.context_length, c.transformer_width};
  transformer(out, "transformer.", c.transformer_width, c.transformer_layers);
  layer_norm(out, "ln_final", c.transformer_width);
  out["text_projection"] = {c.transformer_width, c.embed_dim};
  out["logit_scale"] = {};
  return out;
}

}  // namespace clipgrad::clip
