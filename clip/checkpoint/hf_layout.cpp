// The Hugging Face CLIPModel layout: tensor names and shapes, and config.json.
#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "clip/checkpoint/checkpoint.h"
#include "io/json.h"
#include "tensor/ops/shape.h"

namespace clipgrad::clip {

namespace {

struct Rename {
  const char* hf;
  const char* openai;
};

// Whole names, copied unchanged.
constexpr Rename kTopLevel[] = {
    {"logit_scale", "logit_scale"},
    {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
    {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
    {"text_model.final_layer_norm.weight", "ln_final.weight"},
    {"text_model.final_layer_norm.bias", "ln_final.bias"},
    {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
    {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
    {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
    {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"},  // sic: HF's spelling
    {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"},
    {"vision_model.post_layernorm.weight", "visual.ln_post.weight"},
    {"vision_model.post_layernorm.bias", "visual.ln_post.bias"},
};

// nn.Linear weights [E, W] in HF, bare matrices x @ proj [W, E] in OpenAI.
constexpr Rename kTransposed[] = {
    {"text_projection.weight", "text_projection"},
    {"visual_projection.weight", "visual.proj"},
};

// Non-persistent buffers that older transformers versions saved.
constexpr const char* kDropped[] = {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"};

constexpr Rename kTowers[] = {
    {"text_model.encoder.layers.", "transformer.resblocks."},
    {"vision_model.encoder.layers.", "visual.transformer.resblocks."},
};

// Inside one block, after "<index>.".
constexpr Rename kBlock[] = {
    {"layer_norm1.weight", "ln_1.weight"},
    {"layer_norm1.bias", "ln_1.bias"},
    {"layer_norm2.weight", "ln_2.weight"},
    {"layer_norm2.bias", "ln_2.bias"},
    {"mlp.fc1.weight", "mlp.c_fc.weight"},
    {"mlp.fc1.bias", "mlp.c_fc.bias"},
    {"mlp.fc2.weight", "mlp.c_proj.weight"},
    {"mlp.fc2.bias", "mlp.c_proj.bias"},
    {"self_attn.out_proj.weight", "attn.out_proj.weight"},
    {"self_attn.out_proj.bias", "attn.out_proj.bias"},
};

// OpenAI packs q, k, v (in that order) into one projection.
constexpr const char* kQkv[] = {"q_proj", "k_proj", "v_proj"};
constexpr const char* kPackKinds[] = {"weight", "bias"};

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

Tensor transposed(const std::string& name, const Tensor& matrix) {
  if (matrix.dim() != 2)
    throw std::invalid_argument("tensor '" + name + "' has shape " + shape_str(matrix.shape()) + ", expected a matrix");
  return ops::permute(matrix, {1, 0});
}

// "<tower prefix><index>.<rest>" -> {index, rest}; false if `name` is not in the tower.
bool split_block(const std::string& name, const std::string& prefix, std::string& index, std::string& rest) {
  if (!starts_with(name, prefix)) return false;
  size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return false;
  index = name.substr(prefix.size(), dot - prefix.size());
  if (index.find_first_not_of("0123456789") != std::string::npos) return false;
  rest = name.substr(dot + 1);
  return true;
}

std::invalid_argument no_counterpart(const std::string& name, const char* layout) {
  return std::invalid_argument("tensor '" + name + "' has no counterpart in the " + layout + " layout of CLIP");
}

}  // namespace

std::map<std::string, Tensor> to_openai_layout(const std::map<std::string, Tensor>& hf) {
  std::map<std::string, Tensor> out;
  // OpenAI name -> the HF names of its q, k, v parts and the tensors found.
  struct Pack {
    std::vector<std::string> hf_names;
    std::vector<Tensor> parts;
  };
  std::map<std::string, Pack> packs;

  for (const auto& [hf_name, value] : hf) {
    const std::string& name = hf_name;  // a lambda cannot capture a structured binding before C++20
    auto renamed = [&](const auto& table) {
      for (const Rename& rename : table)
        if (name == rename.hf) return rename.openai;
      return static_cast<const char*>(nullptr);
    };
    if (std::find(std::begin(kDropped), std::end(kDropped), name) != std::end(kDropped)) continue;
    if (const char* openai = renamed(kTopLevel)) {
      out[openai] = value;
      continue;
    }
    if (const char* openai = renamed(kTransposed)) {
      out[openai] = transposed(name, value);
      continue;
    }
    bool mapped = false;
    for (const Rename& tower : kTowers) {
      std::string index, rest;
      if (!split_block(name, tower.hf, index, rest)) continue;
      std::string block = tower.openai + index + ".";
      for (const Rename& rename : kBlock)
        if (rest == rename.hf) {
          out[block + rename.openai] = value;
          mapped = true;
        }
      for (const char* kind : kPackKinds)
        for (int part = 0; part < 3; ++part)
          if (rest == std::string("self_attn.") + kQkv[part] + "." + kind) {
            Pack& pack = packs[block + "attn.in_proj_" + kind];
            if (pack.parts.empty()) {
              pack.parts.resize(3);
              for (const char* qkv : kQkv) pack.hf_names.push_back(tower.hf + index + ".self_attn." + qkv + "." + kind);
            }
            pack.parts[part] = value;
            mapped = true;
          }
    }
    if (!mapped) throw no_counterpart(name, "OpenAI");
  }

  for (auto& [openai, pack] : packs) {
    for (int part = 0; part < 3; ++part)
      if (!pack.parts[part].defined())
        throw std::invalid_argument("missing tensor '" + pack.hf_names[part] +
                                    "' (the q, k and v projections of a layer come together)");
    for (int part = 1; part < 3; ++part)
      if (pack.parts[part].shape() != pack.parts[0].shape())
        throw std::invalid_argument("tensor '" + pack.hf_names[part] + "' has shape " +
                                    shape_str(pack.parts[part].shape()) + ", unlike '" + pack.hf_names[0] + "' " +
                                    shape_str(pack.parts[0].shape()));
    out[openai] = ops::concat(pack.parts, 0);
  }
  return out;
}

std::map<std::string, Tensor> to_hf_layout(const std::map<std::string, Tensor>& openai) {
  std::map<std::string, Tensor> out;
  for (const auto& [openai_name, value] : openai) {
    const std::string& name = openai_name;  // a lambda cannot capture a structured binding before C++20
    auto renamed = [&](const auto& table) {
      for (const Rename& rename : table)
        if (name == rename.openai) return rename.hf;
      return static_cast<const char*>(nullptr);
    };
    if (const char* hf = renamed(kTopLevel)) {
      out[hf] = value;
      continue;
    }
    if (const char* hf = renamed(kTransposed)) {
      out[hf] = transposed(name, value);
      continue;
    }
    bool mapped = false;
    for (const Rename& tower : kTowers) {
      std::string index, rest;
      if (!split_block(name, tower.openai, index, rest)) continue;
      std::string block = tower.hf + index + ".";
      for (const Rename& rename : kBlock)
        if (rest == rename.openai) {
          out[block + rename.hf] = value;
          mapped = true;
        }
      for (const char* kind : kPackKinds)
        if (rest == std::string("attn.in_proj_") + kind) {
          if (value.dim() < 1 || value.size(0) % 3 != 0)
            throw std::invalid_argument("tensor '" + name + "' has shape " + shape_str(value.shape()) +
                                        ", expected a first dim of 3 x width (q, k, v)");
          int64_t width = value.size(0) / 3;
          for (int part = 0; part < 3; ++part)
            out[block + "self_attn." + kQkv[part] + "." + kind] = value.rows(part * width, (part + 1) * width).clone();
          mapped = true;
        }
    }
    if (!mapped) throw no_counterpart(name, "Hugging Face");
  }
  return out;
}

std::map<std::string, Shape> to_hf_shapes(const std::map<std::string, Shape>& openai) {
  std::map<std::string, Shape> out;
  for (const auto& [name, shape] : openai) {
    bool mapped = false;
    for (const Rename& rename : kTopLevel)
      if (name == rename.openai) {
        out[rename.hf] = shape;
        mapped = true;
      }
    for (const Rename& rename : kTransposed)
      if (name == rename.openai && shape.size() == 2) {
        out[rename.hf] = {shape[1], shape[0]};
        mapped = true;
      }
    for (const Rename& tower : kTowers) {
      std::string index, rest;
      if (!split_block(name, tower.openai, index, rest)) continue;
      const std::string block = tower.hf + index + ".";
      for (const Rename& rename : kBlock)
        if (rest == rename.openai) {
          out[block + rename.hf] = shape;
          mapped = true;
        }
      for (const char* kind : kPackKinds)
        if (rest == std::string("attn.in_proj_") + kind && !shape.empty() && shape[0] % 3 == 0) {
          Shape part = shape;
          part[0] /= 3;
          for (const char* qkv : kQkv) out[block + "self_attn." + qkv + "." + kind] = part;
          mapped = true;
        }
    }
    if (!mapped) throw no_counterpart(name, "Hugging Face");
  }
  return out;
}

// ---- config.json ----

namespace {

// json[key] as T, or fallback when absent; throws naming `where.key` on a wrong type.
template <class T>
T value_or(const nlohmann::json& json, const std::string& where, const char* key, T fallback) {
  if (!json.contains(key) || json.at(key).is_null()) return fallback;
  const nlohmann::json& value = json.at(key);
  bool ok = std::is_same_v<T, std::string> ? value.is_string()
            : std::is_integral_v<T>        ? value.is_number_integer()
                                           : value.is_number();
  if (!ok)
    throw std::invalid_argument("config.json: '" + where + key + "' has the wrong type: " + io::json_excerpt(value));
  return value.get<T>();
}

struct Tower {
  int64_t hidden, intermediate, layers, heads;
  std::string act;
  double eps;
};

Tower read_tower(const nlohmann::json& json, const std::string& where, int64_t hidden, int64_t intermediate,
                 int64_t layers, int64_t heads) {
  if (!json.is_object()) throw std::invalid_argument("config.json: '" + where + "' must be an object");
  Tower tower{value_or<int64_t>(json, where, "hidden_size", hidden),
              value_or<int64_t>(json, where, "intermediate_size", intermediate),
              value_or<int64_t>(json, where, "num_hidden_layers", layers),
              value_or<int64_t>(json, where, "num_attention_heads", heads),
              value_or<std::string>(json, where, "hidden_act", "quick_gelu"),
              value_or<double>(json, where, "layer_norm_eps", 1e-5)};
  if (tower.intermediate != 4 * tower.hidden)
    throw std::invalid_argument("config.json: '" + where + "intermediate_size' is " +
                                std::to_string(tower.intermediate) +
                                ", but CLIP's MLP is 4 x hidden_size = " + std::to_string(4 * tower.hidden));
  return tower;
}

// transformers reads the sub-configs from *_config, or from the *_config_dict of old files.
const nlohmann::json& sub_config(const nlohmann::json& json, const std::string& key) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (json.contains(key) && !json.at(key).is_null()) return json.at(key);
  if (json.contains(key + "_dict") && !json.at(key + "_dict").is_null()) return json.at(key + "_dict");
  return empty;
}

}  // namespace

ClipConfig config_from_hf_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("config.json must hold a JSON object");
  const nlohmann::json& text_json = sub_config(json, "text_config");
  const nlohmann::json& vision_json = sub_config(json, "vision_config");
  // transformers' CLIPTextConfig / CLIPVisionConfig defaults.
  Tower text = read_tower(text_json, "text_config.", 512, 2048, 12, 8);
  Tower vision = read_tower(vision_json, "vision_config.", 768, 3072, 12, 12);
  if (text.act != vision.act)
    throw std::invalid_argument("config.json: text_config.hidden_act '" + text.act +
                                "' and vision_config.hidden_act '" + vision.act +
                                "' differ; clipgrad's CLIP uses one activation");
  if (text.eps != vision.eps)
    throw std::invalid_argument(
        "config.json: text_config.layer_norm_eps and vision_config.layer_norm_eps differ; "
        "clipgrad's CLIP uses one eps");
  int64_t channels = value_or<int64_t>(vision_json, "vision_config.", "num_channels", 3);
  if (channels != 3)
    throw std::invalid_argument("config.json: 'vision_config.num_channels' is " + std::to_string(channels) +
                                ", CLIP takes RGB images (3)");

  ClipConfig config;
  config.embed_dim = value_or<int64_t>(json, "", "projection_dim", 512);
  config.image_resolution = value_or<int64_t>(vision_json, "vision_config.", "image_size", 224);
  config.vision_layers = {vision.layers};
  config.vision_width = vision.hidden;
  config.vision_patch_size = value_or<int64_t>(vision_json, "vision_config.", "patch_size", 32);
  config.vision_heads = vision.heads;
  config.context_length = value_or<int64_t>(text_json, "text_config.", "max_position_embeddings", 77);
  config.vocab_size = value_or<int64_t>(text_json, "text_config.", "vocab_size", 49408);
  config.transformer_width = text.hidden;
  config.transformer_heads = text.heads;
  config.transformer_layers = text.layers;
  config.activation = parse_activation(text.act);
  config.layer_norm_eps = text.eps;
  int64_t eos = value_or<int64_t>(text_json, "text_config.", "eos_token_id", 2);
  config.eos_token_id = eos == 2 ? -1 : eos;
  return config.resolved();
}

nlohmann::json config_to_hf_json(const ClipConfig& config) {
  if (config.is_resnet())
    throw std::invalid_argument(
        "a ModifiedResNet CLIP has no Hugging Face CLIPModel form; save it in the OpenAI layout");
  ClipConfig c = config.resolved();
  const char* act = activation_name(c.activation);
  nlohmann::json text = {
      {"model_type", "clip_text_model"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.transformer_width},
      {"intermediate_size", 4 * c.transformer_width},
      {"num_hidden_layers", c.transformer_layers},
      {"num_attention_heads", c.transformer_heads},
      {"max_position_embeddings", c.context_length},
      {"hidden_act", act},
      {"layer_norm_eps", c.layer_norm_eps},
      // 2 is the value transformers reads as "pool at the argmax".
      {"eos_token_id", c.eos_token_id < 0 ? 2 : c.eos_token_id},
      {"projection_dim", c.embed_dim},
  };
  nlohmann::json vision = {
      {"model_type", "clip_vision_model"},
      {"hidden_size", c.vision_width},
      {"intermediate_size", 4 * c.vision_width},
      {"num_hidden_layers", c.vision_layers[0]},
      {"num_attention_heads", c.vision_heads},
      {"image_size", c.image_resolution},
      {"patch_size", c.vision_patch_size},
      {"num_channels", 3},
      {"hidden_act", act},
      {"layer_norm_eps", c.layer_norm_eps},
      {"projection_dim", c.embed_dim},
  };
  return {{"architectures", nlohmann::json::array({"CLIPModel"})},
          {"model_type", "clip"},
          {"projection_dim", c.embed_dim},
          {"logit_scale_init_value", 2.6592},
          {"text_config", text},
          {"vision_config", vision}};
}

}  // namespace clipgrad::clip
