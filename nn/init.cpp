#include "nn/init.h"

#include <cmath>
#include <stdexcept>

namespace clipgrad::nn::init {

void normal_(Tensor& tensor, double std, Generator& generator) { fill_normal(tensor, 0.0, std, generator); }
void normal_(Variable& parameter, double std, Generator& generator) { normal_(parameter.value(), std, generator); }

void uniform_(Tensor& tensor, double low, double high, Generator& generator) {
  fill_uniform(tensor, low, high, generator);
}
void uniform_(Variable& parameter, double low, double high, Generator& generator) {
  uniform_(parameter.value(), low, high, generator);
}

void zeros_(Tensor& tensor) { tensor.fill(0.0); }
void zeros_(Variable& parameter) { zeros_(parameter.value()); }
void ones_(Tensor& tensor) { tensor.fill(1.0); }
void ones_(Variable& parameter) { ones_(parameter.value()); }

int64_t fan_in(const Tensor& weight) {
  if (weight.dim() < 2)
    throw std::invalid_argument("init::fan_in: weight of shape " + shape_str(weight.shape()) +
                                " has no fan-in; it needs at least 2 dims [out, in, ...]");
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return weight.size(1) * receptive;
}

// Same as torch: an empty fan-in gives bound 0 rather than a division by zero.
static double inverse_sqrt_fan_in(const Tensor& weight) {
  int64_t fan = fan_in(weight);
  return fan > 0 ? 1.0 / std::sqrt(static_cast<double>(fan)) : 0.0;
}

void kaiming_uniform_(Tensor& weight, double a, Generator& generator) {
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  double bound = gain * std::sqrt(3.0) * inverse_sqrt_fan_in(weight);
  uniform_(weight, -bound, bound, generator);
}
void kaiming_uniform_(Variable& weight, double a, Generator& generator) {
  kaiming_uniform_(weight.value(), a, generator);
}

// Shared by Linear and Conv2d: torch gives both the same rule.
static void reset_weight_and_bias(Variable& weight, Variable* bias, Generator& generator) {
  kaiming_uniform_(weight, std::sqrt(5.0), generator);
  if (bias) {
    double bound = inverse_sqrt_fan_in(weight.value());
    uniform_(*bias, -bound, bound, generator);
  }
}

void reset_parameters(Linear& layer, Generator& generator) {
  reset_weight_and_bias(layer.weight, layer.bias, generator);
}
void reset_parameters(Conv2d& layer, Generator& generator) {
  reset_weight_and_bias(layer.weight, layer.bias, generator);
}

void reset_parameters(LayerNorm& layer) {
  ones_(layer.weight);
  zeros_(layer.bias);
}

void reset_parameters(BatchNorm2d& layer) {
  ones_(layer.weight);
  zeros_(layer.bias);
  zeros_(layer.running_mean);
  ones_(layer.running_var);
  layer.num_batches_tracked.fill(0);
}

}  // namespace clipgrad::nn::init
