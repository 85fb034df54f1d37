#include "nn/layers.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/elementwise.h"

namespace clipgrad::nn {

// Sizes come from model configs; a zero or negative one is a config error
// that would otherwise surface much later as a shape mismatch deep in an op.
static int64_t checked_size(int64_t value, const char* layer, const char* what) {
  if (value <= 0)
    throw std::invalid_argument(std::string(layer) + ": " + what + " must be positive, got " + std::to_string(value) +
                                "; check the model config");
  return value;
}

// ---- Linear ----

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : weight(register_parameter("weight", Tensor::zeros({checked_size(out_features, "Linear", "out_features"),
                                                         checked_size(in_features, "Linear", "in_features")}))) {
  if (bias) this->bias = &register_parameter("bias", Tensor::zeros({out_features}));
}

Variable Linear::forward(const Variable& x) const { return fn::linear(x, weight, bias ? *bias : Variable()); }

// ---- LayerNorm ----

LayerNorm::LayerNorm(int64_t features, double eps)
    : weight(register_parameter("weight", Tensor::full({checked_size(features, "LayerNorm", "features")}, 1.0))),
      bias(register_parameter("bias", Tensor::zeros({features}))),
      eps(eps) {}

Variable LayerNorm::forward(const Variable& x) const { return fn::layer_norm(x, weight, bias, eps); }

// ---- Embedding ----

Embedding::Embedding(int64_t vocab, int64_t features)
    : weight(register_parameter("weight", Tensor::zeros({checked_size(vocab, "Embedding", "vocab"),
                                                         checked_size(features, "Embedding", "features")}))) {}

Variable Embedding::forward(const Tensor& ids) const { return fn::embedding(ids, weight); }

// ---- Conv2d ----

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias)
    : weight(register_parameter("weight", Tensor::zeros({checked_size(out_channels, "Conv2d", "out_channels"),
                                                         checked_size(in_channels, "Conv2d", "in_channels"),
                                                         checked_size(kernel, "Conv2d", "kernel"), kernel}))),
      stride(checked_size(stride, "Conv2d", "stride")),
      padding(padding) {
  if (padding < 0)
    throw std::invalid_argument("Conv2d: padding must be >= 0, got " + std::to_string(padding) +
                                "; check the model config");
  if (bias) this->bias = &register_parameter("bias", Tensor::zeros({out_channels}));
}

Variable Conv2d::forward(const Variable& x) const {
  return fn::conv2d(x, weight, bias ? *bias : Variable(), stride, padding);
}

// ---- BatchNorm2d ----

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum)
    : weight(register_parameter("weight", Tensor::full({checked_size(channels, "BatchNorm2d", "channels")}, 1.0))),
      bias(register_parameter("bias", Tensor::zeros({channels}))),
      running_mean(register_buffer("running_mean", Tensor::zeros({channels}))),
      running_var(register_buffer("running_var", Tensor::full({channels}, 1.0))),
      num_batches_tracked(register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I32))),
      eps(eps),
      momentum(momentum) {}

Variable BatchNorm2d::forward(const Variable& x) {
  bool training = is_training();
  Variable out = fn::batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps);
  // Counted where the counter lives: on a device, no host read (a wait per layer per step).
  if (training) ops::add_scalar_inplace(num_batches_tracked, 1);
  return out;
}

// ---- MultiheadAttention ----

// Returns features once it splits evenly into heads, so that the check runs
// before the first parameter is shaped from it.
static int64_t checked_width(int64_t features, int64_t heads) {
  checked_size(features, "MultiheadAttention", "features");
  checked_size(heads, "MultiheadAttention", "heads");
  if (features % heads != 0)
    throw std::invalid_argument("MultiheadAttention: features " + std::to_string(features) +
                                " is not divisible by heads " + std::to_string(heads) +
                                "; pick a head count that divides the width");
  return features;
}

MultiheadAttention::MultiheadAttention(int64_t features, int64_t heads)
    : in_proj_weight(
          register_parameter("in_proj_weight", Tensor::zeros({3 * checked_width(features, heads), features}))),
      in_proj_bias(register_parameter("in_proj_bias", Tensor::zeros({3 * features}))),
      out_proj(register_module("out_proj", std::make_shared<Linear>(features, features))),
      heads(heads) {}

Variable MultiheadAttention::forward(const Variable& x, const Tensor& mask) const {
  return fn::multi_head_attention(x, in_proj_weight, in_proj_bias, out_proj->weight, *out_proj->bias, heads, mask);
}

}  // namespace clipgrad::nn
