// OpenAI's VisionTransformer image tower.
#include "clip/model/vision_transformer.h"

#include <cmath>
#include <stdexcept>

#include "nn/init.h"

namespace clipgrad::clip {

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
  nn::init::reset_parameters(*ln_pre);
  nn::init::reset_parameters(*ln_post);
  transformer->init_default(generator);
}

}  // namespace clipgrad::clip
