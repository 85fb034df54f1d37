// Parameter initialisation, as torch.nn.init. Layers start zeroed (see
// nn/layers.h); each model applies its own rule (OpenAI CLIP overrides most
// defaults with normal_ of chosen stds), so these are free functions the
// model calls rather than something a layer does on construction.
//
// All fills draw from the given Generator in element order, so the same seed
// gives the same weights bit for bit. They write CPU floating tensors in
// place; a Variable is filled through its value, outside the graph.
#pragma once

#include "nn/layers.h"
#include "tensor/random.h"

namespace clipgrad::nn::init {

void normal_(Tensor& tensor, double std, Generator& generator);  // mean 0
void normal_(Variable& parameter, double std, Generator& generator);
void uniform_(Tensor& tensor, double low, double high, Generator& generator);
void uniform_(Variable& parameter, double low, double high, Generator& generator);
void zeros_(Tensor& tensor);
void zeros_(Variable& parameter);
void ones_(Tensor& tensor);
void ones_(Variable& parameter);

// weight [out, in, ...] -> in * prod(...), torch's fan_in (needs >= 2 dims).
int64_t fan_in(const Tensor& weight);

// U(-bound, bound) with bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
void kaiming_uniform_(Tensor& weight, double a, Generator& generator);
void kaiming_uniform_(Variable& weight, double a, Generator& generator);

// PyTorch's reset_parameters() of nn.Linear and nn.Conv2d: weight
// kaiming_uniform_(a = sqrt 5), i.e. U(+-1/sqrt(fan_in)), then bias
// U(+-1/sqrt(fan_in)) (0 bound when fan_in is 0).
void reset_parameters(Linear& layer, Generator& generator);
void reset_parameters(Conv2d& layer, Generator& generator);
// PyTorch's reset_parameters() of nn.LayerNorm (weight 1, bias 0) and
// nn.BatchNorm2d (also running mean 0, running variance 1, counter 0).
void reset_parameters(LayerNorm& layer);
void reset_parameters(BatchNorm2d& layer);

}  // namespace clipgrad::nn::init
