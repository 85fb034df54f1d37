// OpenAI's ModifiedResNet image encoder: a three-conv stem, anti-aliased
// bottleneck stages, and attention pooling in place of global average pooling.
#include <cmath>

#include "clip/model/modified_resnet.h"
#include "nn/init.h"

namespace clipgrad::clip {

Bottleneck::Downsample::Downsample(int64_t inplanes, int64_t outplanes)
    : conv(register_module("0", std::make_shared<nn::Conv2d>(inplanes, outplanes, 1, 1, 0, false))),
      bn(register_module("1", std::make_shared<nn::BatchNorm2d>(outplanes))) {}

Bottleneck::Bottleneck(int64_t inplanes, int64_t planes, int64_t stride)
    : stride(stride),
      conv1(register_module("conv1", std::make_shared<nn::Conv2d>(inplanes, planes, 1, 1, 0, false))),
      conv2(register_module("conv2", std::make_shared<nn::Conv2d>(planes, planes, 3, 1, 1, false))),
      conv3(register_module("conv3", std::make_shared<nn::Conv2d>(planes, planes * expansion, 1, 1, 0, false))),
      bn1(register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes))),
      bn2(register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes))),
      bn3(register_module("bn3", std::make_shared<nn::BatchNorm2d>(planes * expansion))) {
  if (stride > 1 || inplanes != planes * expansion)
    downsample = register_module("downsample", std::make_shared<Downsample>(inplanes, planes * expansion));
}

Variable Bottleneck::forward(const Variable& x) {
  Variable out = fn::relu(bn1->forward(conv1->forward(x)));
  out = fn::relu(bn2->forward(conv2->forward(out)));
  if (stride > 1) out = fn::avg_pool2d(out, stride);
  out = bn3->forward(conv3->forward(out));
  Variable identity = x;
  if (downsample) {
    Variable pooled = stride > 1 ? fn::avg_pool2d(x, stride) : x;
    identity = downsample->bn->forward(downsample->conv->forward(pooled));
  }
  return fn::relu(fn::add(out, identity));
}

// ---- AttentionPool2d ----

AttentionPool2d::AttentionPool2d(int64_t spacial_dim, int64_t embed_dim, int64_t heads, int64_t output_dim)
    : spacial_dim(spacial_dim),
      heads(heads),
      positional_embedding(
          register_parameter("positional_embedding", Tensor::zeros({spacial_dim * spacial_dim + 1, embed_dim}))),
      k_proj(register_module("k_proj", std::make_shared<nn::Linear>(embed_dim, embed_dim))),
      q_proj(register_module("q_proj", std::make_shared<nn::Linear>(embed_dim, embed_dim))),
      v_proj(register_module("v_proj", std::make_shared<nn::Linear>(embed_dim, embed_dim))),
      c_proj(register_module("c_proj", std::make_shared<nn::Linear>(embed_dim, output_dim))) {}

Variable AttentionPool2d::forward(const Variable& x) const {
  int64_t batch = x.size(0), channels = x.size(1);
  Variable tokens = fn::transpose(fn::reshape(x, {batch, channels, -1}), 1, 2);  // [N, S*S, C]
  tokens = fn::concat({fn::mean(tokens, 1, true), tokens}, 1);                   // [N, S*S + 1, C]
  tokens = fn::add(tokens, positional_embedding);
  // Only the mean token queries: one output token per image.
  Variable query = q_proj->forward(fn::narrow(tokens, 1, 0, 1));  // [N, 1, C]
  Variable pooled = fn::attention(query, k_proj->forward(tokens), v_proj->forward(tokens), heads);
  return fn::reshape(c_proj->forward(pooled), {batch, -1});
}

// ---- ModifiedResNet ----

ModifiedResNet::ModifiedResNet(const std::vector<int64_t>& layers, int64_t output_dim, int64_t heads,
                               int64_t resolution, int64_t width)
    : resolution(resolution),
      conv1(register_module("conv1", std::make_shared<nn::Conv2d>(3, width / 2, 3, 2, 1, false))),
      conv2(register_module("conv2", std::make_shared<nn::Conv2d>(width / 2, width / 2, 3, 1, 1, false))),
      conv3(register_module("conv3", std::make_shared<nn::Conv2d>(width / 2, width, 3, 1, 1, false))),
      bn1(register_module("bn1", std::make_shared<nn::BatchNorm2d>(width / 2))),
      bn2(register_module("bn2", std::make_shared<nn::BatchNorm2d>(width / 2))),
      bn3(register_module("bn3", std::make_shared<nn::BatchNorm2d>(width))) {
  int64_t inplanes = width;
  for (size_t stage = 0; stage < layers.size(); ++stage) {
    int64_t planes = width << stage;
    auto blocks = std::make_shared<ModuleList<Bottleneck>>();
    blocks->push_back(std::make_shared<Bottleneck>(inplanes, planes, stage == 0 ? 1 : 2));
    inplanes = planes * Bottleneck::expansion;
    for (int64_t i = 1; i < layers[stage]; ++i) blocks->push_back(std::make_shared<Bottleneck>(inplanes, planes, 1));
    stages.push_back(register_module("layer" + std::to_string(stage + 1), blocks));
  }
  attnpool =
      register_module("attnpool", std::make_shared<AttentionPool2d>(resolution / 32, width * 32, heads, output_dim));
}

Variable ModifiedResNet::forward(const Variable& pixels) {
  check_pixels(pixels, resolution, "ModifiedResNet");
  Variable x = fn::relu(bn1->forward(conv1->forward(pixels)));
  x = fn::relu(bn2->forward(conv2->forward(x)));
  x = fn::relu(bn3->forward(conv3->forward(x)));
  x = fn::avg_pool2d(x, 2);
  for (const auto& stage : stages)
    for (const auto& block : stage->items) x = block->forward(x);
  return attnpool->forward(x);
}

void ModifiedResNet::init_openai(Generator& generator) {
  for (const auto& conv : {conv1, conv2, conv3}) nn::init::reset_parameters(*conv, generator);
  for (const auto& norm : {bn1, bn2, bn3}) nn::init::reset_parameters(*norm);
  for (const auto& stage : stages) {
    for (const auto& block : stage->items) {
      for (const auto& conv : {block->conv1, block->conv2, block->conv3}) nn::init::reset_parameters(*conv, generator);
      for (const auto& norm : {block->bn1, block->bn2, block->bn3}) nn::init::reset_parameters(*norm);
      if (block->downsample) {
        nn::init::reset_parameters(*block->downsample->conv, generator);
        nn::init::reset_parameters(*block->downsample->bn);
      }
      // Each residual branch starts as the identity (OpenAI's zero bn3 gain).
      nn::init::zeros_(block->bn3->weight);
    }
  }
  double embed = static_cast<double>(attnpool->positional_embedding.size(1));
  nn::init::normal_(attnpool->positional_embedding, std::pow(embed, -0.5), generator);
  double std = std::pow(static_cast<double>(attnpool->c_proj->weight.size(1)), -0.5);
  for (const auto& projection : {attnpool->q_proj, attnpool->k_proj, attnpool->v_proj, attnpool->c_proj}) {
    nn::init::reset_parameters(*projection, generator);
    nn::init::normal_(projection->weight, std, generator);
  }
}

}  // namespace clipgrad::clip
