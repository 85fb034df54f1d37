// Each layer's forward against a hand computation, BatchNorm's running
// statistics, and gradients reaching the parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "nn/init.h"
#include "nn/layers.h"
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/counters.h"
#include "cuda/runtime.h"
#endif

using namespace clipgrad;

namespace {

void set(Variable& parameter, const std::vector<float>& values) {
  parameter.value().copy_from(Tensor::from_vector<float>(parameter.shape(), values));
}

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Tensor t = Tensor::empty({n});
  Generator generator(seed);
  fill_normal(t, 0.0, 1.0, generator);
  return t.to_vector<float>();
}

void randomize(Variable& parameter, uint64_t seed) { set(parameter, random_values(parameter.numel(), seed)); }

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tolerance = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tolerance) << "element " << i;
}

// Seeds the sum of all outputs, so each parameter's gradient is a plain sum.
void backward_ones(const Variable& y) { Variable(y).backward(Tensor::full(y.shape(), 1.0)); }

}  // namespace

TEST(Linear, ForwardAndGradientsByHand) {
  nn::Linear layer(3, 2);
  set(layer.weight, {1, 2, 3, -1, 0, 0.5f});
  set(*layer.bias, {0.5f, -1});
  Variable x(Tensor::from_vector<float>({2, 3}, {1, 0, -1, 2, 1, 1}), true);
  Variable y = layer.forward(x);
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  expect_near(y.value().to_vector<float>(), {1 - 3 + 0.5, -1 - 0.5 - 1, 2 + 2 + 3 + 0.5, -2 + 0.5 - 1});
  backward_ones(y);
  expect_near(layer.weight.grad().to_vector<float>(), {3, 1, 0, 3, 1, 0});
  expect_near(layer.bias->grad().to_vector<float>(), {2, 2});
  expect_near(x.grad().to_vector<float>(), {0, 2, 3.5, 0, 2, 3.5});
}

TEST(Linear, WithoutBiasOnLeadingDims) {
  nn::Linear layer(2, 3, /*bias=*/false);
  EXPECT_EQ(layer.bias, nullptr);
  EXPECT_EQ(layer.named_parameters().size(), 1u);
  set(layer.weight, {1, 0, 0, 1, 1, 1});
  Variable x(Tensor::from_vector<float>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
  Variable y = layer.forward(x);
  ASSERT_EQ(y.shape(), (Shape{2, 2, 3}));
  expect_near(y.value().to_vector<float>(), {1, 2, 3, 3, 4, 7, 5, 6, 11, 7, 8, 15});
}

TEST(LayerNorm, StartsAsIdentityGainAndNormalisesTheLastDim) {
  nn::LayerNorm layer(4);
  EXPECT_EQ(layer.weight.value().to_vector<float>(), (std::vector<float>{1, 1, 1, 1}));
  EXPECT_EQ(layer.bias.value().to_vector<float>(), (std::vector<float>{0, 0, 0, 0}));
  set(layer.weight, {1, 2, 0.5f, -1});
  set(layer.bias, {0, 1, 0, 0.25f});
  std::vector<float> row = {1, 2, 4, 7};
  Variable x(Tensor::from_vector<float>({1, 4}, row), true);
  Variable y = layer.forward(x);
  double mean = 3.5, variance = (6.25 + 2.25 + 0.25 + 12.25) / 4, inv = 1 / std::sqrt(variance + 1e-5);
  expect_near(y.value().to_vector<float>(),
              {(1 - mean) * inv, (2 - mean) * inv * 2 + 1, (4 - mean) * inv * 0.5, -(7 - mean) * inv + 0.25});
  backward_ones(y);
  expect_near(layer.bias.grad().to_vector<float>(), {1, 1, 1, 1});
  expect_near(layer.weight.grad().to_vector<float>(),
              {(1 - mean) * inv, (2 - mean) * inv, (4 - mean) * inv, (7 - mean) * inv});
}

TEST(Embedding, LooksUpRowsAndScattersGradients) {
  nn::Embedding layer(4, 2);
  set(layer.weight, {0, 1, 10, 11, 20, 21, 30, 31});
  Tensor ids = Tensor::from_vector<int32_t>({2, 2}, {3, 1, 1, 0});
  Variable y = layer.forward(ids);
  ASSERT_EQ(y.shape(), (Shape{2, 2, 2}));
  expect_near(y.value().to_vector<float>(), {30, 31, 10, 11, 10, 11, 0, 1});
  backward_ones(y);
  expect_near(layer.weight.grad().to_vector<float>(), {1, 1, 2, 2, 0, 0, 1, 1});
}

TEST(Conv2d, MatchesADirectConvolution) {
  const int64_t N = 2, C = 2, O = 3, H = 5, W = 4, K = 3, stride = 2, padding = 1;
  nn::Conv2d layer(C, O, K, stride, padding);
  EXPECT_EQ(layer.weight.shape(), (Shape{O, C, K, K}));
  randomize(layer.weight, 1);
  randomize(*layer.bias, 2);
  std::vector<float> input = random_values(N * C * H * W, 3);
  Variable x(Tensor::from_vector<float>({N, C, H, W}, input), true);
  Variable y = layer.forward(x);
  const int64_t Ho = (H + 2 * padding - K) / stride + 1, Wo = (W + 2 * padding - K) / stride + 1;
  ASSERT_EQ(y.shape(), (Shape{N, O, Ho, Wo}));

  std::vector<float> w = layer.weight.value().to_vector<float>(), b = layer.bias->value().to_vector<float>();
  std::vector<double> want;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double total = b[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < K; ++u)
              for (int64_t v = 0; v < K; ++v) {
                int64_t row = i * stride - padding + u, col = j * stride - padding + v;
                if (row < 0 || row >= H || col < 0 || col >= W) continue;
                total += double(w[((o * C + c) * K + u) * K + v]) * input[((n * C + c) * H + row) * W + col];
              }
          want.push_back(total);
        }
  expect_near(y.value().to_vector<float>(), want, 1e-4);

  backward_ones(y);
  expect_near(layer.bias->grad().to_vector<float>(), std::vector<double>(O, double(N * Ho * Wo)));
  EXPECT_EQ(layer.weight.grad().shape(), layer.weight.shape());
  EXPECT_EQ(x.grad().shape(), x.shape());
}

TEST(BatchNorm2d, TrainingUsesBatchStatisticsAndUpdatesRunningOnes) {
  nn::BatchNorm2d layer(2);
  EXPECT_EQ(layer.running_var.to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_EQ(layer.num_batches_tracked.dtype(), DType::I32);
  EXPECT_EQ(layer.num_batches_tracked.shape(), Shape{});
  set(layer.weight, {2, 0.5f});
  set(layer.bias, {1, -1});
  // x [N=2, C=2, H=1, W=2]: channel 0 holds {1, 3, 5, 7}, channel 1 {0, 0, 4, 8}.
  Variable x(Tensor::from_vector<float>({2, 2, 1, 2}, {1, 3, 0, 0, 5, 7, 4, 8}), true);
  Variable y = layer.forward(x);

  double mean0 = 4, var0 = 5, mean1 = 3, var1 = 11;  // biased batch variances
  double inv0 = 1 / std::sqrt(var0 + 1e-5), inv1 = 1 / std::sqrt(var1 + 1e-5);
  expect_near(y.value().to_vector<float>(),
              {2 * (1 - mean0) * inv0 + 1, 2 * (3 - mean0) * inv0 + 1, 0.5 * (0 - mean1) * inv1 - 1,
               0.5 * (0 - mean1) * inv1 - 1, 2 * (5 - mean0) * inv0 + 1, 2 * (7 - mean0) * inv0 + 1,
               0.5 * (4 - mean1) * inv1 - 1, 0.5 * (8 - mean1) * inv1 - 1});
  // Momentum 0.1 with the unbiased variance (n / (n - 1) = 4 / 3).
  expect_near(layer.running_mean.to_vector<float>(), {0.1 * mean0, 0.1 * mean1});
  expect_near(layer.running_var.to_vector<float>(), {0.9 + 0.1 * var0 * 4 / 3, 0.9 + 0.1 * var1 * 4 / 3});
  EXPECT_EQ(layer.num_batches_tracked.item(), 1.0);

  backward_ones(y);
  expect_near(layer.bias.grad().to_vector<float>(), {4, 4});
  expect_near(layer.weight.grad().to_vector<float>(), {0, 0});  // sum of normalised values
  layer.forward(x);
  EXPECT_EQ(layer.num_batches_tracked.item(), 2.0);
}

#ifdef CLIPGRAD_CUDA_EMULATE
// On a device the counter is counted there: a training forward neither reads
// it back nor uploads it (it did both, a host wait per layer per step).
TEST(BatchNorm2d, CountsBatchesOnTheDeviceWithoutWaiting) {
  if (!cuda::available()) GTEST_SKIP() << "no emulated device";
  nn::BatchNorm2d layer(2);
  layer.to(Device::CUDA);
  const Variable x(Tensor::full({2, 2, 1, 2}, 1.5, DType::F32, Device::CUDA));
  layer.forward(x);
  const cuda::emulator::Counters before = cuda::emulator::counters();
  layer.forward(x);
  const cuda::emulator::Counters work = cuda::emulator::counters() - before;
  EXPECT_EQ(work.host_waits, 0u);
  EXPECT_EQ(work.host_to_device_copies, 0u);
  EXPECT_EQ(layer.num_batches_tracked.item(), 2.0);
}
#endif

TEST(BatchNorm2d, EvalUsesRunningStatisticsAndLeavesThemAlone) {
  nn::BatchNorm2d layer(2);
  layer.running_mean.copy_from(Tensor::from_vector<float>({2}, {1, -2}));
  layer.running_var.copy_from(Tensor::from_vector<float>({2}, {4, 0.25f}));
  set(layer.weight, {3, 1});
  set(layer.bias, {0, 0.5f});
  layer.eval();
  Variable x(Tensor::from_vector<float>({1, 2, 1, 2}, {1, 5, -2, 0}), true);
  Variable y = layer.forward(x);
  double inv0 = 1 / std::sqrt(4 + 1e-5), inv1 = 1 / std::sqrt(0.25 + 1e-5);
  expect_near(y.value().to_vector<float>(), {0, 3 * 4 * inv0, 0.5, 2 * inv1 + 0.5});
  EXPECT_EQ(layer.running_mean.to_vector<float>(), (std::vector<float>{1, -2}));
  EXPECT_EQ(layer.running_var.to_vector<float>(), (std::vector<float>{4, 0.25f}));
  EXPECT_EQ(layer.num_batches_tracked.item(), 0.0);
  backward_ones(y);
  expect_near(x.grad().to_vector<float>(), {3 * inv0, 3 * inv0, inv1, inv1});
}

TEST(MultiheadAttention, MatchesAHandWrittenCausalAttention) {
  const int64_t N = 2, L = 3, D = 4, heads = 2, hd = D / heads;
  nn::MultiheadAttention layer(D, heads);
  std::vector<std::string> names;
  for (auto& [name, parameter] : layer.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  randomize(layer.in_proj_weight, 1);
  randomize(layer.in_proj_bias, 2);
  randomize(layer.out_proj->weight, 3);
  randomize(*layer.out_proj->bias, 4);
  std::vector<float> input = random_values(N * L * D, 5);
  Tensor mask = Tensor::full({L, L}, 0.0);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = i + 1; j < L; ++j) mask.data<float>()[i * L + j] = -std::numeric_limits<float>::infinity();
  Variable x(Tensor::from_vector<float>({N, L, D}, input), true);
  Variable y = layer.forward(x, mask);
  ASSERT_EQ(y.shape(), (Shape{N, L, D}));

  std::vector<float> w = layer.in_proj_weight.value().to_vector<float>();
  std::vector<float> b = layer.in_proj_bias.value().to_vector<float>();
  std::vector<float> wo = layer.out_proj->weight.value().to_vector<float>();
  std::vector<float> bo = layer.out_proj->bias->value().to_vector<float>();
  std::vector<double> want;
  for (int64_t n = 0; n < N; ++n) {
    // qkv[l][f] for f in [0, 3D): q, k, v stacked as in_proj_weight's rows.
    std::vector<std::vector<double>> qkv(L, std::vector<double>(3 * D));
    for (int64_t l = 0; l < L; ++l)
      for (int64_t f = 0; f < 3 * D; ++f) {
        qkv[l][f] = b[f];
        for (int64_t e = 0; e < D; ++e) qkv[l][f] += double(w[f * D + e]) * input[(n * L + l) * D + e];
      }
    std::vector<std::vector<double>> attended(L, std::vector<double>(D, 0.0));
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> scores(L);
        double top = -1e300, total = 0;
        for (int64_t j = 0; j <= i; ++j) {  // causal: later positions are masked out
          scores[j] = 0;
          for (int64_t e = 0; e < hd; ++e) scores[j] += qkv[i][h * hd + e] * qkv[j][D + h * hd + e];
          scores[j] /= std::sqrt(double(hd));
          top = std::max(top, scores[j]);
        }
        for (int64_t j = 0; j <= i; ++j) total += std::exp(scores[j] - top);
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t e = 0; e < hd; ++e)
            attended[i][h * hd + e] += std::exp(scores[j] - top) / total * qkv[j][2 * D + h * hd + e];
      }
    for (int64_t l = 0; l < L; ++l)
      for (int64_t o = 0; o < D; ++o) {
        double total = bo[o];
        for (int64_t e = 0; e < D; ++e) total += double(wo[o * D + e]) * attended[l][e];
        want.push_back(total);
      }
  }
  expect_near(y.value().to_vector<float>(), want, 1e-4);

  backward_ones(y);
  for (auto& [name, parameter] : layer.named_parameters()) {
    ASSERT_TRUE(parameter.has_grad()) << name;
    EXPECT_EQ(parameter.grad().shape(), parameter.shape()) << name;
  }
  expect_near(layer.out_proj->bias->grad().to_vector<float>(), std::vector<double>(D, double(N * L)));
}

TEST(MultiheadAttention, RejectsAWidthThatHeadsDoNotDivide) {
  EXPECT_THROW(nn::MultiheadAttention(6, 4), std::invalid_argument);
  EXPECT_THROW(nn::Linear(0, 3), std::invalid_argument);
  EXPECT_THROW(nn::Conv2d(3, 8, 3, 1, -1), std::invalid_argument);
}
