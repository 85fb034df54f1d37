// OpenAI's transformer pieces (ResidualAttentionBlock, Transformer) and the
// VisionTransformer image encoder.
#include <cmath>
#include <stdexcept>

#include "clip/model.h"
#include "nn/init.h"

namespace clipgrad::clip {

Variable activate(const Variable& x, Activation activation) {
  return activation == Activation::Gelu ? fn::gelu(x) : fn::quick_gelu(x);
}

Mlp::Mlp(int64_t width, Activation activation)
    : c_fc(register_module("c_fc", std::make_shared<nn::Linear>(width, 4 * width))),
      c_proj(register_module("c_proj", std::make_shared<nn::Linear>(4 * width, width))),
      activation(activation) {}

Variable Mlp::forward(const Variable& x) const { return c_proj->forward(activate(c_fc->forward(x), activation)); }

ResidualAttentionBlock::ResidualAttentionBlock(int64_t width, int64_t heads, Activation activation, double eps)
    : attn(register_module("attn", std::make_shared<nn::MultiheadAttention>(width, heads))),
      ln_1(register_module("ln_1", std::make_shared<nn::LayerNorm>(width, eps))),
      mlp(register_module("mlp", std::make_shared<Mlp>(width, activation))),
      ln_2(register_module("ln_2", std::make_shared<nn::LayerNorm>(width, eps))) {}

Variable ResidualAttentionBlock::forward(const Variable& x, const Tensor& mask) const {
  Variable attended = fn::add(x, attn->forward(ln_1->forward(x), mask));
  return fn::add(attended, mlp->forward(ln_2->forward(attended)));
}

Transformer::Transformer(int64_t width, int64_t layers, int64_t heads, Activation activation, double eps)
    : width(width),
      layers(layers),
      resblocks(register_module("resblocks", std::make_shared<ModuleList<ResidualAttentionBlock>>())) {
  for (int64_t i = 0; i < layers; ++i)
    resblocks->push_back(std::make_shared<ResidualAttentionBlock>(width, heads, activation, eps));
}

Variable Transformer::forward(const Variable& x, const Tensor& mask) const {
  Variable hidden = x;
  for (const auto& block : resblocks->items) hidden = block->forward(hidden, mask);
  return hidden;
}

static void init_layer_norm(nn::LayerNorm& norm) {
  nn::init::ones_(norm.weight);
  nn::init::zeros_(norm.bias);
}

void Transformer::init_default(Generator& generator) {
  for (const auto& block : resblocks->items) {
    // nn.MultiheadAttention._reset_parameters: xavier_uniform_ on the packed
    // [3D, D] projection (fan_in D, fan_out 3D), zero biases.
    double bound = std::sqrt(6.0 / static_cast<double>(width + 3 * width));
    nn::init::uniform_(block->attn->in_proj_weight, -bound, bound, generator);
    nn::init::zeros_(block->attn->in_proj_bias);
    nn::init::reset_parameters(*block->attn->out_proj, generator);
    nn::init::zeros_(*block->attn->out_proj->bias);
    init_layer_norm(*block->ln_1);
    init_layer_norm(*block->ln_2);
    nn::init::reset_parameters(*block->mlp->c_fc, generator);
    nn::init::reset_parameters(*block->mlp->c_proj, generator);
  }
}

void Transformer::init_openai(Generator& generator) {
  double d = static_cast<double>(width);
  double proj_std = std::pow(d, -0.5) * std::pow(2.0 * static_cast<double>(layers), -0.5);
  double attn_std = std::pow(d, -0.5);
  double fc_std = std::pow(2.0 * d, -0.5);
  for (const auto& block : resblocks->items) {
    nn::init::normal_(block->attn->in_proj_weight, attn_std, generator);
    nn::init::normal_(block->attn->out_proj->weight, proj_std, generator);
    nn::init::normal_(block->mlp->c_fc->weight, fc_std, generator);
    nn::init::normal_(block->mlp->c_proj->weight, proj_std, generator);
  }
}

// ---- VisionTransformer ----

VisionTransformer::VisionTransformer(int64_t resolution, int64_t patch_size, int64_t width, int64_t layers,
                                     int64_t heads, int64_t output_dim, Activation activation, double eps)
    : resolution(resolution),
      patch_size(patch_size),
      width(width),
      class_embedding(register_parameter("class_embedding", Tensor::zeros({width}))),
      positional_embedding(register_parameter(
          "positional_embedding", Tensor::zeros({(resolution / patch_size) * (resolution / patch_size) + 1, width}))),
      proj(register_parameter("proj", Tensor::zeros({width, output_dim}))),
      conv1(register_module("conv1", std::make_shared<nn::Conv2d>(3, width, patch_size, patch_size, 0, false))),
      ln_pre(register_module("ln_pre", std::make_shared<nn::LayerNorm>(width, eps))),
      transformer(register_module("transformer", std::make_shared<Transformer>(width, layers, heads, activation, eps))),
      ln_post(register_module("ln_post", std::make_shared<nn::LayerNorm>(width, eps))) {}

void check_pixels(const Variable& pixels, int64_t resolution, const char* encoder) {
  const Shape& shape = pixels.shape();
  if (shape.size() != 4 || shape[1] != 3 || shape[2] != resolution || shape[3] != resolution)
    throw std::invalid_argument(std::string(encoder) + ": pixels have shape " + shape_str(shape) +
                                ", the model expects [N,3," + std::to_string(resolution) + "," +
                                std::to_string(resolution) + "]; resize the images to the model's resolution");
}

Variable VisionTransformer::forward(const Variable& pixels) {
  check_pixels(pixels, resolution, "VisionTransformer");
  int64_t batch = pixels.size(0);
  Variable patches = conv1->forward(pixels);                                // [N, W, g, g]
  patches = fn::transpose(fn::reshape(patches, {batch, width, -1}), 1, 2);  // [N, g*g, W]
  Variable cls = fn::broadcast_to(fn::reshape(class_embedding, {1, 1, width}), {batch, 1, width});
  Variable tokens = fn::add(fn::concat({cls, patches}, 1), positional_embedding);  // [N, g*g + 1, W]
  tokens = transformer->forward(ln_pre->forward(tokens));
  Variable cls_out = fn::reshape(fn::narrow(tokens, 1, 0, 1), {batch, width});
  return fn::matmul(ln_post->forward(cls_out), proj);
}

void VisionTransformer::init_openai(Generator& generator) {
  // OpenAI draws these as scale * randn at construction; everything else
  // keeps PyTorch's defaults (initialize_parameters touches only the text side).
  double scale = std::pow(static_cast<double>(width), -0.5);
  nn::init::normal_(class_embedding, scale, generator);
  nn::init::normal_(positional_embedding, scale, generator);
  nn::init::normal_(proj, scale, generator);
  nn::init::reset_parameters(*conv1, generator);
  init_layer_norm(*ln_pre);
  init_layer_norm(*ln_post);
  transformer->init_default(generator);
}

}  // namespace clipgrad::clip
