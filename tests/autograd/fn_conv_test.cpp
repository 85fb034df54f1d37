// Convolutional ops: forward and backward against naive loops, gradcheck over
// the stride/padding/kernel/bias grid, batch-norm statistics, and f32-vs-f64.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "autograd/functional.h"
#include "gradcheck.h"
#include "precision_check.h"
#include "tensor/ops/conv.h"
#include "tensor/precision.h"

using namespace clipgrad;
using clipgrad::testing::expect_f32_matches_f64;
using clipgrad::testing::expect_gradcheck;
using clipgrad::testing::random_f64;
using clipgrad::testing::relative_error;

namespace {

struct ConvCase {
  Shape x, weight;
  int64_t stride, padding;
  bool bias;
};

// Every combination the brief asks for: stride 1/2, padding 0/1, kernel 1/3, bias or none.
std::vector<ConvCase> conv_grid() {
  std::vector<ConvCase> cases;
  for (int64_t kernel : {1, 3})
    for (int64_t stride : {1, 2})
      for (int64_t padding : {0, 1})
        for (bool bias : {true, false}) cases.push_back({{2, 3, 5, 6}, {4, 3, kernel, kernel}, stride, padding, bias});
  cases.push_back({{1, 2, 6, 5}, {3, 2, 2, 3}, 1, 1, true});   // non-square kernel
  cases.push_back({{2, 2, 4, 4}, {2, 2, 4, 4}, 4, 0, false});  // patch embedding: kernel = stride
  return cases;
}

std::string describe(const ConvCase& c) {
  return "x " + shape_str(c.x) + " weight " + shape_str(c.weight) + " stride " + std::to_string(c.stride) +
         " padding " + std::to_string(c.padding) + (c.bias ? " bias" : " no bias");
}

// Output (n, o, oy, ox) reads input (n, c, oy*s - p + ki, ox*s - p + kj).
template <class Visit>
void for_each_tap(const Shape& x, const Shape& w, int64_t stride, int64_t padding, Visit visit) {
  const int64_t out_h = (x[2] + 2 * padding - w[2]) / stride + 1, out_w = (x[3] + 2 * padding - w[3]) / stride + 1;
  for (int64_t n = 0; n < x[0]; ++n)
    for (int64_t o = 0; o < w[0]; ++o)
      for (int64_t oy = 0; oy < out_h; ++oy)
        for (int64_t ox = 0; ox < out_w; ++ox)
          for (int64_t c = 0; c < x[1]; ++c)
            for (int64_t ki = 0; ki < w[2]; ++ki)
              for (int64_t kj = 0; kj < w[3]; ++kj) {
                const int64_t iy = oy * stride - padding + ki, ix = ox * stride - padding + kj;
                if (iy < 0 || iy >= x[2] || ix < 0 || ix >= x[3]) continue;
                visit(((n * w[0] + o) * out_h + oy) * out_w + ox, ((n * x[1] + c) * x[2] + iy) * x[3] + ix,
                      ((o * w[1] + c) * w[2] + ki) * w[3] + kj);
              }
}

Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t padding) {
  const int64_t out_h = (x.size(2) + 2 * padding - w.size(2)) / stride + 1;
  const int64_t out_w = (x.size(3) + 2 * padding - w.size(3)) / stride + 1;
  Tensor out = Tensor::zeros({x.size(0), w.size(0), out_h, out_w}, DType::F64);
  double* y = out.data<double>();
  for_each_tap(x.shape(), w.shape(), stride, padding,
               [&](int64_t yi, int64_t xi, int64_t wi) { y[yi] += x.data<double>()[xi] * w.data<double>()[wi]; });
  if (bias.defined())
    for (int64_t i = 0; i < out.numel(); ++i) y[i] += bias.data<double>()[i / (out_h * out_w) % w.size(0)];
  return out;
}

}  // namespace

TEST(FnConv2d, ForwardMatchesNaiveLoops) {
  for (const ConvCase& c : conv_grid()) {
    Tensor x = random_f64(c.x, 1), w = random_f64(c.weight, 2);
    Tensor b = c.bias ? random_f64({c.weight[0]}, 3) : Tensor();
    Tensor got = ops::conv2d(x, w, b, c.stride, c.padding);
    Tensor expected = naive_conv(x, w, b, c.stride, c.padding);
    ASSERT_EQ(got.shape(), expected.shape()) << describe(c);
    EXPECT_LE(relative_error(got, expected), 1e-12) << describe(c);
  }
}

TEST(FnConv2d, GradcheckOverStridePaddingKernelAndBias) {
  for (const ConvCase& c : conv_grid()) {
    SCOPED_TRACE(describe(c));
    std::vector<Tensor> inputs{random_f64(c.x, 4), random_f64(c.weight, 5)};
    if (c.bias) inputs.push_back(random_f64({c.weight[0]}, 6));
    expect_gradcheck(
        [&c](const std::vector<Variable>& v) {
          return fn::conv2d(v[0], v[1], c.bias ? v[2] : Variable(), c.stride, c.padding);
        },
        inputs);
  }
}

TEST(FnConv2d, BackwardComputesOnlyWhatIsAsked) {
  Variable x(random_f64({1, 2, 4, 4}, 1), false), w(random_f64({3, 2, 3, 3}, 2), true), b(random_f64({3}, 3), false);
  Variable y = fn::conv2d(x, w, b, 1, 1);
  y.backward(random_f64(y.shape(), 4));
  EXPECT_FALSE(x.has_grad());
  EXPECT_FALSE(b.has_grad());
  ASSERT_TRUE(w.has_grad());
  EXPECT_EQ(w.grad().shape(), w.shape());
}

namespace {

// Forward, and the backward against the naive adjoint of the forward loops.
void expect_conv_matches_naive(const Shape& x_shape, const Shape& w_shape, int64_t stride, int64_t padding) {
  Tensor x = random_f64(x_shape, 1), w = random_f64(w_shape, 2), b = random_f64({w_shape[0]}, 3);
  Tensor y = ops::conv2d(x, w, b, stride, padding);
  EXPECT_LE(relative_error(y, naive_conv(x, w, b, stride, padding)), 1e-12);
  Tensor grad = random_f64(y.shape(), 4);
  ops::Conv2dGrads grads = ops::conv2d_backward(grad, x, w, stride, padding, true, true, true);
  Tensor dx = Tensor::zeros(x_shape, DType::F64), dw = Tensor::zeros(w_shape, DType::F64);
  for_each_tap(x_shape, w_shape, stride, padding, [&](int64_t yi, int64_t xi, int64_t wi) {
    dx.data<double>()[xi] += grad.data<double>()[yi] * w.data<double>()[wi];
    dw.data<double>()[wi] += grad.data<double>()[yi] * x.data<double>()[xi];
  });
  EXPECT_LE(relative_error(grads.x, dx), 1e-12);
  EXPECT_LE(relative_error(grads.weight, dw), 1e-12);
}

}  // namespace

// Large outputs: one GEMM per image. Images whose column matrix takes 12 MB
// are processed two per chunk, so three make a full and a partial chunk.
TEST(FnConv2d, PerImageChunksMatchNaive) { expect_conv_matches_naive({3, 32, 72, 72}, {1, 32, 3, 3}, 1, 1); }

// Small outputs: one wide GEMM per chunk, again a full and a partial chunk.
TEST(FnConv2d, WideChunksMatchNaive) { expect_conv_matches_naive({3, 222, 28, 28}, {1, 222, 3, 3}, 1, 1); }

// A 1x1 convolution with 32 x 32 outputs runs one GEMM per image on x itself.
TEST(FnConv2d, PointwiseOnInputMatchesNaive) { expect_conv_matches_naive({3, 5, 32, 32}, {4, 5, 1, 1}, 1, 0); }

TEST(FnConv2d, RejectsMismatchedShapes) {
  Variable x(random_f64({1, 2, 4, 4}, 1)), w(random_f64({3, 3, 3, 3}, 2));
  EXPECT_THROW(fn::conv2d(x, w, Variable(), 1, 0), std::invalid_argument);
  Variable big(random_f64({3, 2, 5, 5}, 3));
  EXPECT_THROW(fn::conv2d(x, big, Variable(), 1, 0), std::invalid_argument);
  EXPECT_THROW(fn::conv2d(x, Variable(random_f64({3, 2, 1, 1}, 4)), Variable(), 0, 0), std::invalid_argument);
}

TEST(FnAvgPool2d, ForwardMatchesNaiveAndGradcheck) {
  Tensor x = random_f64({2, 3, 7, 6}, 1);  // kernel 3 drops the seventh row
  Tensor y = fn::avg_pool2d(Variable(x), 3).value();
  ASSERT_EQ(y.shape(), (Shape{2, 3, 2, 2}));
  for (int64_t plane = 0; plane < 6; ++plane)
    for (int64_t oy = 0; oy < 2; ++oy)
      for (int64_t ox = 0; ox < 2; ++ox) {
        double total = 0;
        for (int64_t ky = 0; ky < 3; ++ky)
          for (int64_t kx = 0; kx < 3; ++kx) total += x.data<double>()[(plane * 7 + oy * 3 + ky) * 6 + ox * 3 + kx];
        EXPECT_NEAR(y.data<double>()[(plane * 2 + oy) * 2 + ox], total / 9, 1e-14);
      }
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::avg_pool2d(v[0], 2); },
                   {random_f64({2, 3, 4, 4}, 2)});
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::avg_pool2d(v[0], 3); }, {x});
  EXPECT_THROW(fn::avg_pool2d(Variable(x), 8), std::invalid_argument);
}

namespace {

// Normalises each channel with the given statistics, as the definition reads.
Tensor naive_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<double>& mean,
                        const std::vector<double>& var, double eps) {
  Tensor y = Tensor::empty(x.shape(), DType::F64);
  const int64_t C = x.size(1), plane = x.size(2) * x.size(3);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = i / plane % C;
    y.data<double>()[i] =
        (x.data<double>()[i] - mean[c]) / std::sqrt(var[c] + eps) * w.data<double>()[c] + b.data<double>()[c];
  }
  return y;
}

// Per-channel mean and biased variance.
void channel_moments(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t C = x.size(1), plane = x.size(2) * x.size(3), count = x.numel() / C;
  mean.assign(C, 0);
  var.assign(C, 0);
  for (int64_t i = 0; i < x.numel(); ++i) mean[i / plane % C] += x.data<double>()[i] / count;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = x.data<double>()[i] - mean[i / plane % C];
    var[i / plane % C] += d * d / count;
  }
}

}  // namespace

TEST(FnBatchNorm, TrainingNormalisesWithBatchStatsAndUpdatesRunningStats) {
  Tensor x = random_f64({3, 2, 4, 5}, 1, 2.0), w = random_f64({2}, 2), b = random_f64({2}, 3);
  Tensor running_mean = random_f64({2}, 4), running_var = Tensor::from_vector<double>({2}, {0.5, 2.0});
  const std::vector<double> old_mean = running_mean.to_vector<double>(), old_var = running_var.to_vector<double>();
  const double momentum = 0.1, eps = 1e-5;
  Tensor y =
      fn::batch_norm(Variable(x), Variable(w), Variable(b), running_mean, running_var, true, momentum, eps).value();
  std::vector<double> mean, var;
  channel_moments(x, mean, var);
  EXPECT_LE(relative_error(y, naive_batch_norm(x, w, b, mean, var, eps)), 1e-12);
  const double count = 3 * 4 * 5;
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(running_mean.data<double>()[c], momentum * mean[c] + (1 - momentum) * old_mean[c], 1e-14);
    EXPECT_NEAR(running_var.data<double>()[c], momentum * var[c] * count / (count - 1) + (1 - momentum) * old_var[c],
                1e-14);
  }
}

TEST(FnBatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  Tensor x = random_f64({2, 3, 2, 2}, 1), w = random_f64({3}, 2), b = random_f64({3}, 3);
  Tensor running_mean = random_f64({3}, 4), running_var = Tensor::from_vector<double>({3}, {0.5, 1.5, 3.0});
  Tensor y = fn::batch_norm(Variable(x), Variable(w), Variable(b), running_mean, running_var, false).value();
  EXPECT_LE(relative_error(
                y, naive_batch_norm(x, w, b, running_mean.to_vector<double>(), running_var.to_vector<double>(), 1e-5)),
            1e-12);
  EXPECT_EQ(running_var.to_vector<double>(), (std::vector<double>{0.5, 1.5, 3.0}));
}

TEST(FnBatchNorm, GradcheckInTrainingAndEval) {
  Tensor running_mean = random_f64({3}, 9), running_var = Tensor::from_vector<double>({3}, {0.7, 1.2, 2.5});
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    auto f = [&, training](const std::vector<Variable>& v) {
      return fn::batch_norm(v[0], v[1], v[2], running_mean, running_var, training);
    };
    expect_gradcheck(f, {random_f64({2, 3, 3, 2}, 1), random_f64({3}, 2), random_f64({3}, 3)});
    expect_gradcheck(f, {random_f64({4, 3, 1, 1}, 4), random_f64({3}, 5), random_f64({3}, 6)}, {true, false, true});
  }
}

TEST(FnBatchNorm, NeedsMoreThanOneValuePerChannelToTrain) {
  Tensor running_mean = Tensor::zeros({2}, DType::F64), running_var = Tensor::full({2}, 1.0, DType::F64);
  Variable x(random_f64({1, 2, 1, 1}, 1)), w(random_f64({2}, 2)), b(random_f64({2}, 3));
  EXPECT_THROW(fn::batch_norm(x, w, b, running_mean, running_var, true), std::invalid_argument);
  EXPECT_NO_THROW(fn::batch_norm(x, w, b, running_mean, running_var, false));
  EXPECT_THROW(fn::batch_norm(x, w, Variable(), running_mean, running_var, false), std::invalid_argument);
}

TEST(FnConv, F32MatchesF64) {
  expect_f32_matches_f64(
      [](const std::vector<Variable>& v) { return fn::avg_pool2d(fn::conv2d(v[0], v[1], v[2], 2, 1), 2); },
      {random_f64({2, 3, 9, 9}, 1), random_f64({4, 3, 3, 3}, 2), random_f64({4}, 3)});
  Tensor mean32 = Tensor::zeros({3}), var32 = Tensor::full({3}, 1.0);
  Tensor mean64 = Tensor::zeros({3}, DType::F64), var64 = Tensor::full({3}, 1.0, DType::F64);
  for (bool training : {true, false}) {
    expect_f32_matches_f64(
        [&](const std::vector<Variable>& v) {
          const bool wide = v[0].dtype() == DType::F64;
          return fn::batch_norm(v[0], v[1], v[2], wide ? mean64 : mean32, wide ? var64 : var32, training);
        },
        {random_f64({4, 3, 5, 5}, 4, 3.0), random_f64({3}, 5), random_f64({3}, 6)});
    EXPECT_LE(relative_error(mean32, mean64), 1e-5);
    EXPECT_LE(relative_error(var32, var64), 1e-5);
  }
}

// Under bf16 autocast a convolution is the f32 convolution of bf16-rounded
// operands, its output and gradients rounded to bf16 (a bf16 convolution with
// f32 sums): every value it hands out is a bf16 value, and it is that f32
// convolution rounded.
TEST(FnConv2dAutocast, OperandsOutputAndGradientsAreBfloat16Values) {
  auto rounded = [](const Tensor& t) { return t.to(DType::BF16).to(DType::F32); };
  const Tensor x = random_f64({2, 3, 6, 6}, 1).to(DType::F32), w = random_f64({4, 3, 3, 3}, 2).to(DType::F32);
  const Tensor b = random_f64({4}, 3).to(DType::F32);
  const Tensor expected =
      rounded(fn::conv2d(Variable(rounded(x)), Variable(rounded(w)), Variable(rounded(b)), 2, 1).value());
  set_autocast_bf16(true);
  Variable vx(x, true), vw(w, true), vb(b, true);
  Variable y = fn::conv2d(vx, vw, vb, 2, 1);
  y.backward(random_f64(y.shape(), 4).to(DType::F32));
  set_autocast_bf16(false);
  EXPECT_EQ(y.value().to_vector<float>(), expected.to_vector<float>());
  for (const Tensor& t : {vx.grad(), vw.grad(), vb.grad()})
    for (float value : t.to_vector<float>()) EXPECT_EQ(std::bit_cast<uint32_t>(value) & 0xffffu, 0u) << value;
}
