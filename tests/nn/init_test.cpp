// Initialisers: bounds and statistics of torch's rules, reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "nn/init.h"

using namespace clipgrad;

namespace {

void expect_within(const Tensor& t, double bound) {
  std::vector<float> values = t.to_vector<float>();
  double largest = 0;
  for (float v : values) largest = std::max(largest, double(std::abs(v)));
  EXPECT_LE(largest, bound);
  EXPECT_GT(largest, 0.5 * bound);  // really spread over the range, not left at zero
}

}  // namespace

TEST(Init, FanInCountsInputsTimesReceptiveField) {
  EXPECT_EQ(nn::init::fan_in(Tensor::zeros({8, 3, 5, 5})), 75);
  EXPECT_EQ(nn::init::fan_in(Tensor::zeros({4, 16})), 16);
  EXPECT_THROW(nn::init::fan_in(Tensor::zeros({4})), std::invalid_argument);
}

TEST(Init, LinearDefaultIsUniformOverOneOverSqrtFanIn) {
  nn::Linear layer(16, 32);
  Generator generator(7);
  nn::init::reset_parameters(layer, generator);
  expect_within(layer.weight.value(), 0.25);
  expect_within(layer.bias->value(), 0.25);

  nn::Linear again(16, 32);
  Generator same_seed(7);
  nn::init::reset_parameters(again, same_seed);
  EXPECT_EQ(again.weight.value().to_vector<float>(), layer.weight.value().to_vector<float>());
  EXPECT_EQ(again.bias->value().to_vector<float>(), layer.bias->value().to_vector<float>());
}

TEST(Init, ConvDefaultUsesTheReceptiveField) {
  nn::Conv2d layer(3, 64, 3);
  Generator generator(1);
  nn::init::reset_parameters(layer, generator);
  double bound = 1 / std::sqrt(27.0);
  expect_within(layer.weight.value(), bound);
  expect_within(layer.bias->value(), bound);

  nn::Conv2d no_bias(3, 8, 2, 2, 0, /*bias=*/false);
  nn::init::reset_parameters(no_bias, generator);
  expect_within(no_bias.weight.value(), 1 / std::sqrt(12.0));
}

TEST(Init, KaimingUniformGain) {
  Tensor weight = Tensor::zeros({64, 24});
  Generator generator(3);
  nn::init::kaiming_uniform_(weight, 0.0, generator);  // ReLU gain sqrt 2: bound sqrt(6 / fan_in)
  expect_within(weight, std::sqrt(6.0 / 24));
}

TEST(Init, NormalHasTheRequestedSpread) {
  Variable parameter(Tensor::zeros({100, 100}), true);
  Generator generator(5);
  nn::init::normal_(parameter, 0.02, generator);
  double sum = 0, squares = 0;
  for (float v : parameter.value().to_vector<float>()) {
    sum += v;
    squares += double(v) * v;
  }
  double mean = sum / 1e4, std = std::sqrt(squares / 1e4 - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);
  EXPECT_NEAR(std, 0.02, 0.001);
}

TEST(Init, ConstantFills) {
  Variable parameter(Tensor::full({3}, 5.0), true);
  nn::init::zeros_(parameter);
  EXPECT_EQ(parameter.value().to_vector<float>(), (std::vector<float>{0, 0, 0}));
  nn::init::ones_(parameter);
  EXPECT_EQ(parameter.value().to_vector<float>(), (std::vector<float>{1, 1, 1}));
  Tensor buffer = Tensor::zeros({2}, DType::F64);
  Generator generator(2);
  nn::init::uniform_(buffer, 2.0, 3.0, generator);
  for (double v : buffer.to_vector<double>()) EXPECT_TRUE(v >= 2.0 && v < 3.0) << v;
}
