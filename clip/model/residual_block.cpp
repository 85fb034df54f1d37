// OpenAI's transformer pieces: Mlp, ResidualAttentionBlock, Transformer.
#include "clip/model/residual_block.h"

#include <cmath>

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
  for (const auto& block : resblocks->items) {
    if (!grad_checkpointing) {
      hidden = block->forward(hidden, mask);
      continue;
    }
    hidden = fn::checkpoint([block, mask](const Variable& input) { return block->forward(input, mask); }, hidden,
                            block->parameters());
  }
  return hidden;
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
    nn::init::reset_parameters(*block->ln_1);
    nn::init::reset_parameters(*block->ln_2);
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

}  // namespace clipgrad::clip
