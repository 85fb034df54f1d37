#include "clip/model/config.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace clipgrad::clip {

const char* activation_name(Activation activation) { return activation == Activation::Gelu ? "gelu" : "quick_gelu"; }

Activation parse_activation(const std::string& name) {
  if (name == "quick_gelu") return Activation::QuickGelu;
  if (name == "gelu") return Activation::Gelu;
  throw std::invalid_argument("unknown activation '" + name + "': expected quick_gelu or gelu");
}

// OpenAI divides widths by 64 to get head counts; widths under 64 (our tiny
// models) would get 0 heads, so they get one.
static int64_t heads_for_width(int64_t width) { return std::max<int64_t>(1, width / 64); }

int64_t ClipConfig::default_vision_heads() const {
  return is_resnet() ? heads_for_width(vision_width * 32) : heads_for_width(vision_width);
}

ClipConfig ClipConfig::resolved() const {
  ClipConfig config = *this;
  if (config.vision_heads == 0) config.vision_heads = config.default_vision_heads();
  auto fail = [](const std::string& what) { throw std::invalid_argument("invalid CLIP config: " + what); };
  auto positive = [&](const char* key, int64_t value) {
    if (value <= 0) fail(std::string(key) + " must be positive, got " + std::to_string(value));
  };
  positive("embed_dim", embed_dim);
  positive("image_resolution", image_resolution);
  positive("vision_width", vision_width);
  positive("context_length", context_length);
  positive("vocab_size", vocab_size);
  positive("transformer_width", transformer_width);
  positive("transformer_heads", transformer_heads);
  positive("transformer_layers", transformer_layers);
  positive("vision_heads", config.vision_heads);
  if (!(layer_norm_eps > 0 && std::isfinite(layer_norm_eps))) fail("layer_norm_eps must be positive and finite");
  if (eos_token_id < -1 || eos_token_id >= vocab_size)
    fail("eos_token_id " + std::to_string(eos_token_id) + " is not a token of the vocabulary of " +
         std::to_string(vocab_size) + " (or -1: the largest id in each text, OpenAI's rule)");
  for (int64_t count : vision_layers) positive("vision_layers", count);
  if (transformer_width % transformer_heads != 0)
    fail("transformer_width " + std::to_string(transformer_width) + " is not divisible by transformer_heads " +
         std::to_string(transformer_heads));
  if (vision_layers.size() == 1) {
    positive("vision_patch_size", vision_patch_size);
    if (image_resolution % vision_patch_size != 0)
      fail("image_resolution " + std::to_string(image_resolution) + " is not a multiple of vision_patch_size " +
           std::to_string(vision_patch_size));
    if (vision_width % config.vision_heads != 0)
      fail("vision_width " + std::to_string(vision_width) + " is not divisible by vision_heads " +
           std::to_string(config.vision_heads));
  } else if (vision_layers.size() == 4) {
    if (vision_patch_size != 0) fail("a ModifiedResNet (four vision_layers) has no vision_patch_size");
    if (image_resolution % 32 != 0)
      fail("a ModifiedResNet needs image_resolution a multiple of 32, got " + std::to_string(image_resolution));
    if (vision_width % 2 != 0) fail("a ModifiedResNet needs an even vision_width");
    if ((vision_width * 32) % config.vision_heads != 0)
      fail("the attention pool width " + std::to_string(vision_width * 32) + " is not divisible by vision_heads " +
           std::to_string(config.vision_heads));
  } else {
    fail("vision_layers must be one count (ViT) or four (ModifiedResNet), got " + std::to_string(vision_layers.size()));
  }
  return config;
}

nlohmann::json ClipConfig::to_json() const {
  nlohmann::json json;
  json["embed_dim"] = embed_dim;
  json["image_resolution"] = image_resolution;
  if (is_resnet()) {
    json["vision_layers"] = vision_layers;
    json["vision_patch_size"] = nullptr;
  } else {
    json["vision_layers"] = vision_layers.empty() ? 0 : vision_layers[0];
    json["vision_patch_size"] = vision_patch_size;
  }
  json["vision_width"] = vision_width;
  json["context_length"] = context_length;
  json["vocab_size"] = vocab_size;
  json["transformer_width"] = transformer_width;
  json["transformer_heads"] = transformer_heads;
  json["transformer_layers"] = transformer_layers;
  json["vision_heads"] = vision_heads == 0 ? default_vision_heads() : vision_heads;
  json["activation"] = activation_name(activation);
  json["layer_norm_eps"] = layer_norm_eps;
  json["eos_token_id"] = eos_token_id;
  return json;
}

// A JSON value in an error message: one short line whatever the value (parsed
// JSON is depth-bounded, io/json.h, so dump's recursion is bounded).
static std::string shown(const nlohmann::json& value) {
  if (value.is_structured() && value.size() > 8)
    return "a JSON " + std::string(value.type_name()) + " of " + std::to_string(value.size()) + " items";
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

static int64_t integer_key(const nlohmann::json& json, const char* key) {
  if (!json.contains(key)) throw std::invalid_argument(std::string("clip_config has no key '") + key + "'");
  const nlohmann::json& value = json.at(key);
  if (!value.is_number_integer())
    throw std::invalid_argument(std::string("clip_config key '") + key + "' must be an integer, got " + shown(value));
  return value.get<int64_t>();
}

ClipConfig ClipConfig::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("clip_config must be a JSON object, got " + shown(json));
  ClipConfig config;
  config.embed_dim = integer_key(json, "embed_dim");
  config.image_resolution = integer_key(json, "image_resolution");
  if (!json.contains("vision_layers")) throw std::invalid_argument("clip_config has no key 'vision_layers'");
  const nlohmann::json& layers = json.at("vision_layers");
  if (layers.is_number_integer()) {
    config.vision_layers = {layers.get<int64_t>()};
    config.vision_patch_size = integer_key(json, "vision_patch_size");
  } else if (layers.is_array() && layers.size() == 4 &&
             std::all_of(layers.begin(), layers.end(), [](const auto& v) { return v.is_number_integer(); })) {
    config.vision_layers = layers.get<std::vector<int64_t>>();
    if (json.contains("vision_patch_size") && !json.at("vision_patch_size").is_null())
      throw std::invalid_argument("clip_config: a ModifiedResNet (list vision_layers) needs vision_patch_size null");
  } else {
    throw std::invalid_argument(
        "clip_config key 'vision_layers' must be an integer (ViT) or a list of four "
        "integers (ModifiedResNet), got " +
        shown(layers));
  }
  config.vision_width = integer_key(json, "vision_width");
  config.context_length = integer_key(json, "context_length");
  config.vocab_size = integer_key(json, "vocab_size");
  config.transformer_width = integer_key(json, "transformer_width");
  config.transformer_heads = integer_key(json, "transformer_heads");
  config.transformer_layers = integer_key(json, "transformer_layers");
  if (json.contains("vision_heads")) config.vision_heads = integer_key(json, "vision_heads");
  if (json.contains("eos_token_id")) config.eos_token_id = integer_key(json, "eos_token_id");
  if (json.contains("activation")) {
    if (!json.at("activation").is_string())
      throw std::invalid_argument("clip_config key 'activation' must be a string, got " + shown(json.at("activation")));
    config.activation = parse_activation(json.at("activation").get<std::string>());
  }
  if (json.contains("layer_norm_eps")) {
    if (!json.at("layer_norm_eps").is_number())
      throw std::invalid_argument("clip_config key 'layer_norm_eps' must be a number, got " +
                                  shown(json.at("layer_norm_eps")));
    config.layer_norm_eps = json.at("layer_norm_eps").get<double>();
  }
  return config.resolved();
}

// ---- inference from OpenAI-layout shapes (clip/model.py: build_model) ----

static const Shape& shape_of(const std::map<std::string, Shape>& shapes, const std::string& name, size_t rank) {
  auto found = shapes.find(name);
  if (found == shapes.end()) throw std::invalid_argument("missing tensor '" + name + "'");
  if (found->second.size() != rank)
    throw std::invalid_argument("tensor '" + name + "' has shape " + shape_str(found->second) + ", expected " +
                                std::to_string(rank) + " dims");
  return found->second;
}

static bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }
static bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The number of distinct values of the dotted component `index` among names
// that start with `prefix` (how build_model counts blocks).
static int64_t count_blocks(const std::map<std::string, Shape>& shapes, const std::string& prefix, size_t index) {
  std::set<std::string> blocks;
  for (const auto& [name, shape] : shapes) {
    if (!starts_with(name, prefix)) continue;
    size_t begin = 0;
    for (size_t i = 0; i < index && begin != std::string::npos; ++i) {
      begin = name.find('.', begin);
      if (begin != std::string::npos) ++begin;
    }
    if (begin == std::string::npos) continue;
    blocks.insert(name.substr(begin, name.find('.', begin) - begin));
  }
  return static_cast<int64_t>(blocks.size());
}

// round(sqrt(count - 1)), checked to be exact: the token grid side.
static int64_t grid_side(const Shape& positional, const std::string& name) {
  int64_t side = std::llround(std::sqrt(static_cast<double>(positional[0] - 1)));
  if (side * side + 1 != positional[0])
    throw std::invalid_argument("tensor '" + name + "' has shape " + shape_str(positional) +
                                ": its first dim is not a square grid plus one class token");
  return side;
}

ClipConfig ClipConfig::infer(const std::map<std::string, Shape>& shapes) {
  ClipConfig config;
  if (shapes.count("visual.proj")) {
    const Shape& conv = shape_of(shapes, "visual.conv1.weight", 4);
    config.vision_width = conv[0];
    int64_t layers = 0;
    for (const auto& [name, shape] : shapes)
      if (starts_with(name, "visual.") && ends_with(name, ".attn.in_proj_weight")) ++layers;
    config.vision_layers = {layers};
    config.vision_patch_size = conv[3];
    const Shape& positional = shape_of(shapes, "visual.positional_embedding", 2);
    config.image_resolution = config.vision_patch_size * grid_side(positional, "visual.positional_embedding");
  } else {
    for (int stage = 1; stage <= 4; ++stage)
      config.vision_layers.push_back(count_blocks(shapes, "visual.layer" + std::to_string(stage) + ".", 2));
    config.vision_width = shape_of(shapes, "visual.layer1.0.conv1.weight", 4)[0];
    const Shape& positional = shape_of(shapes, "visual.attnpool.positional_embedding", 2);
    config.image_resolution = 32 * grid_side(positional, "visual.attnpool.positional_embedding");
  }
  config.embed_dim = shape_of(shapes, "text_projection", 2)[1];
  config.context_length = shape_of(shapes, "positional_embedding", 2)[0];
  config.vocab_size = shape_of(shapes, "token_embedding.weight", 2)[0];
  config.transformer_width = shape_of(shapes, "ln_final.weight", 1)[0];
  config.transformer_heads = heads_for_width(config.transformer_width);
  config.transformer_layers = count_blocks(shapes, "transformer.resblocks.", 2);
  return config.resolved();
}

// ---- named configs ----

static ClipConfig vit(int64_t embed, int64_t layers, int64_t width, int64_t patch, int64_t text_width,
                      int64_t text_heads) {
  ClipConfig config;
  config.embed_dim = embed;
  config.image_resolution = 224;
  config.vision_layers = {layers};
  config.vision_width = width;
  config.vision_patch_size = patch;
  config.context_length = 77;
  config.vocab_size = 49408;
  config.transformer_width = text_width;
  config.transformer_heads = text_heads;
  config.transformer_layers = 12;
  return config;
}

static ClipConfig resnet(int64_t embed, std::vector<int64_t> layers) {
  ClipConfig config = vit(embed, 0, 64, 0, 512, 8);
  config.vision_layers = std::move(layers);
  return config;
}

std::vector<std::string> ClipConfig::names() {
  return {"vit-b-32",    "vit-b-16",    "vit-l-14",       "rn50",    "rn101",
          "vit-tiny-28", "vit-tiny-64", "vit-tiny-64-p8", "rn-tiny", "rn-tiny-64"};
}

ClipConfig ClipConfig::named(const std::string& name) {
  ClipConfig config;
  if (name == "vit-b-32") {
    config = vit(512, 12, 768, 32, 512, 8);
  } else if (name == "vit-b-16") {
    config = vit(512, 12, 768, 16, 512, 8);
  } else if (name == "vit-l-14") {
    config = vit(768, 24, 1024, 14, 768, 12);
  } else if (name == "rn50") {
    config = resnet(1024, {3, 4, 6, 3});
  } else if (name == "rn101") {
    config = resnet(512, {3, 4, 23, 3});
  } else if (name == "vit-tiny-28") {
    // 28 px in 7 px patches: 16 patch tokens + the class token. Small enough
    // to train on Fashion-MNIST on two CPU cores in minutes.
    config = vit(128, 4, 128, 7, 128, 4);
    config.image_resolution = 28;
    config.vision_heads = 4;
    config.context_length = 32;
    config.transformer_layers = 4;
  } else if (name == "vit-tiny-64") {
    // The study's scenes (64 px canvases, clip/data/scenes.h) in 16 px patches: 16 patch
    // tokens, vit-tiny-28's 4 x 4 grid (8 px patches, 64 tokens, cost 1.3-3x more per
    // sample: docs/study.md); captions of up to 48 tokens.
    config = vit(128, 4, 128, 16, 128, 4);
    config.image_resolution = 64;
    config.vision_heads = 4;
    config.context_length = 48;
    config.transformer_layers = 4;
  } else if (name == "vit-tiny-64-p8") {
    // vit-tiny-64 in 8 px patches (64 patch tokens, as ViT-B/16 sees 224 px in 196): a scene's
    // item spans 3-5 patches instead of 2-3.
    config = vit(128, 4, 128, 8, 128, 4);
    config.image_resolution = 64;
    config.vision_heads = 4;
    config.context_length = 48;
    config.transformer_layers = 4;
  } else if (name == "rn-tiny-64") {
    // The scenes' ModifiedResNet: rn-tiny's tower (one bottleneck per stage, width 16, 64 px)
    // under vit-tiny-64's text transformer (width 128, 4 layers, 48 tokens).
    config = resnet(128, {1, 1, 1, 1});
    config.vision_width = 16;
    config.image_resolution = 64;
    config.context_length = 48;
    config.transformer_width = 128;
    config.transformer_heads = 4;
    config.transformer_layers = 4;
  } else if (name == "rn-tiny") {
    config = resnet(64, {1, 1, 1, 1});
    config.vision_width = 16;
    config.image_resolution = 64;
    config.context_length = 32;
    config.transformer_width = 64;
    config.transformer_heads = 2;
    config.transformer_layers = 2;
  } else {
    std::string valid;
    for (const std::string& known : names()) valid += (valid.empty() ? "" : ", ") + known;
    throw std::invalid_argument("unknown model config '" + name + "': expected one of " + valid);
  }
  return config.resolved();
}

}  // namespace clipgrad::clip
