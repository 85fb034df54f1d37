// Element-wise ops: gradchecks on random and broadcast shapes, hand-computed
// values, f32 vs f64 agreement of values and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>

#include "autograd/functional.h"
#include "op_checks.h"
#include "tensor/ops/elementwise.h"

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

using Binary = std::function<Variable(const Variable&, const Variable&)>;
using Unary = std::function<Variable(const Variable&)>;

struct NamedBinary {
  const char* name;
  Binary op;
  bool positive_b;  // b must stay away from 0 (div)
};

std::vector<NamedBinary> binary_ops() {
  return {{"add", fn::add, false}, {"sub", fn::sub, false}, {"mul", fn::mul, false}, {"div", fn::div, true}};
}

// The broadcast cases the models hit, both ways round, then random pairs.
std::vector<std::pair<Shape, Shape>> broadcast_pairs() {
  std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {2, 3}},        // same shape
      {{2, 3, 4}, {4}},        // bias on [N, L, D]
      {{4}, {2, 3, 4}},        // the bias on the left
      {{3, 3}, {}},            // scalar [] (the logit scale)
      {{}, {3, 3}},            // scalar on the left
      {{2, 1, 4}, {3, 1}},     // both broadcast: general strides
      {{2, 3, 1}, {2, 3, 4}},  // per-row factor
      {{1, 3}, {2, 1}},        // outer-product shape
  };
  Generator generator(7);
  for (int i = 0; i < 6; ++i) {
    Shape full = random_shape(generator, 1 + static_cast<int64_t>(generator.below(4)), 3);
    pairs.emplace_back(random_broadcastable(generator, full), random_broadcastable(generator, full));
  }
  return pairs;
}

Tensor operand(const Shape& shape, uint64_t seed, bool positive) {
  return positive ? positive_f64(shape, seed) : random_f64(shape, seed);
}

}  // namespace

TEST(FnElementwise, BinaryGradcheckOnBroadcastShapes) {
  uint64_t seed = 100;
  for (const NamedBinary& named : binary_ops()) {
    for (const auto& [shape_a, shape_b] : broadcast_pairs()) {
      SCOPED_TRACE(std::string(named.name) + " " + shape_str(shape_a) + " with " + shape_str(shape_b));
      Tensor a = operand(shape_a, ++seed, false), b = operand(shape_b, ++seed, named.positive_b);
      auto f = [&](const std::vector<Variable>& in) { return named.op(in[0], in[1]); };
      expect_gradcheck(f, {a, b});
      expect_gradcheck(f, {a, b}, {true, false});
      expect_gradcheck(f, {a, b}, {false, true});
      expect_f32_matches_f64(f, {a, b});
    }
  }
}

TEST(FnElementwise, BackwardSkipsInputsThatNeedNoGradient) {
  for (const NamedBinary& named : binary_ops()) {
    Variable a(random_f64({2, 3}, 1), true);
    Variable b(positive_f64({3}, 2), false);
    named.op(a, b).backward(Tensor::full({2, 3}, 1.0, DType::F64));
    EXPECT_TRUE(a.has_grad()) << named.name;
    EXPECT_FALSE(b.has_grad()) << named.name;
    EXPECT_EQ(a.grad().shape(), a.shape());
  }
}

TEST(FnElementwise, UnaryGradcheckOnRandomShapes) {
  const std::vector<std::pair<const char*, Unary>> ops = {
      {"exp", fn::exp},
      {"log", fn::log},
      {"rsqrt", fn::rsqrt},
      {"relu", fn::relu},
      {"gelu", fn::gelu},
      {"quick_gelu", fn::quick_gelu},
      {"scale", [](const Variable& x) { return fn::scale(x, -2.5); }},
  };
  Generator generator(11);
  uint64_t seed = 200;
  for (const auto& [name, op] : ops) {
    const bool positive = std::string(name) == "log" || std::string(name) == "rsqrt";
    for (int64_t rank = 0; rank <= 3; ++rank) {
      Shape shape = random_shape(generator, rank);
      SCOPED_TRACE(std::string(name) + " " + shape_str(shape));
      Tensor x = operand(shape, ++seed, positive);
      auto f = [&](const std::vector<Variable>& in) { return op(in[0]); };
      expect_gradcheck(f, {x});
      expect_f32_matches_f64(f, {x});
    }
  }
}

TEST(FnElementwise, GeluGradcheckAcrossItsCurve) {
  // Wide inputs reach both tails, where erf and the sigmoid saturate.
  Tensor x = random_f64({4, 5}, 300, 4.0);
  expect_gradcheck([](const std::vector<Variable>& in) { return fn::gelu(in[0]); }, {x});
  expect_gradcheck([](const std::vector<Variable>& in) { return fn::quick_gelu(in[0]); }, {x});
}

TEST(FnElementwise, BroadcastToGradcheck) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3}, {2, 3}}, {{}, {2, 2}}, {{2, 1}, {2, 3}}, {{1, 3, 1}, {2, 3, 2}}, {{2, 3}, {2, 3}}};
  uint64_t seed = 400;
  for (const auto& [from, to] : cases) {
    SCOPED_TRACE(shape_str(from) + " -> " + shape_str(to));
    auto f = [to = to](const std::vector<Variable>& in) { return fn::broadcast_to(in[0], to); };
    Tensor x = random_f64(from, ++seed);
    expect_gradcheck(f, {x});
    expect_f32_matches_f64(f, {x});
  }
}

TEST(FnElementwise, HandComputedValues) {
  Variable a(Tensor::from_vector<double>({2, 3}, {1, 2, 3, 4, 5, 6}));
  Variable bias(Tensor::from_vector<double>({3}, {10, 20, 30}));
  Variable two(Tensor::scalar(2.0, DType::F64));
  expect_values(fn::add(a, bias).value(), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_values(fn::sub(bias, a).value(), {2, 3}, {9, 18, 27, 6, 15, 24});
  expect_values(fn::mul(a, two).value(), {2, 3}, {2, 4, 6, 8, 10, 12});
  expect_values(fn::div(two, a).value(), {2, 3}, {2, 1, 2.0 / 3, 0.5, 0.4, 1.0 / 3});
  Variable column(Tensor::from_vector<double>({2, 1}, {1, 2}));
  Variable row(Tensor::from_vector<double>({1, 3}, {1, 10, 100}));
  expect_values(fn::mul(column, row).value(), {2, 3}, {1, 10, 100, 2, 20, 200});
  expect_values(fn::broadcast_to(column, {2, 2}).value(), {2, 2}, {1, 1, 2, 2});

  Variable x(Tensor::from_vector<double>({4}, {-1, 0, 1, 4}));
  expect_values(fn::relu(x).value(), {4}, {0, 0, 1, 4});
  expect_values(fn::gelu(x).value(), {4}, {-0.15865525393145707, 0, 0.8413447460685429, 3.9998733150326675});
  expect_values(fn::quick_gelu(x).value(), {4},
                {-1 / (1 + std::exp(1.702)), 0, 1 / (1 + std::exp(-1.702)), 4 / (1 + std::exp(-4 * 1.702))});
  expect_values(fn::exp(x).value(), {4}, {std::exp(-1.0), 1, std::exp(1.0), std::exp(4.0)});
  Variable positive(Tensor::from_vector<double>({3}, {0.25, 1, 4}));
  expect_values(fn::rsqrt(positive).value(), {3}, {2, 1, 0.5});
  expect_values(fn::log(positive).value(), {3}, {std::log(0.25), 0, std::log(4.0)});
  expect_values(fn::scale(positive, -4).value(), {3}, {-1, -4, -16});
}

TEST(FnElementwise, ScalarTimesMatrixGradientIsTheSum) {
  // The contrastive loss multiplies [N, N] logits by a [] scale.
  Variable logits(Tensor::from_vector<double>({2, 2}, {1, 2, 3, 4}), true);
  Variable scale(Tensor::scalar(3.0, DType::F64), true);
  fn::mul(logits, scale).backward(Tensor::full({2, 2}, 1.0, DType::F64));
  expect_values(scale.grad(), {}, {10});
  expect_values(logits.grad(), {2, 2}, {3, 3, 3, 3});
}

TEST(FnElementwise, IncompatibleShapesThrow) {
  Variable a(Tensor::zeros({2, 3}, DType::F64)), b(Tensor::zeros({2}, DType::F64));
  EXPECT_THROW(fn::add(a, b), std::invalid_argument);
  EXPECT_THROW(fn::broadcast_to(a, {3, 3}), std::invalid_argument);
  Variable narrow(Tensor::zeros({2, 3}, DType::F32));
  EXPECT_THROW(fn::mul(a, narrow), std::invalid_argument);
}

TEST(FnElementwise, LargeBroadcastMatchesElementLoop) {
  // Past the OpenMP threshold: the parallel paths agree with a plain loop.
  const int64_t rows = 300, cols = 301;
  Tensor x = random_f64({rows, cols}, 500), bias = random_f64({cols}, 501), factor = random_f64({rows, 1}, 502);
  Tensor sum = ops::add(x, bias), product = ops::mul(x, factor), halved = ops::div(x, Tensor::scalar(2.0, DType::F64));
  Tensor column_sum = ops::sum_to_shape(x, {cols}), row_sum = ops::sum_to_shape(x, {rows, 1});
  const double* p = x.data<double>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(sum.data<double>()[r * cols + c], p[r * cols + c] + bias.data<double>()[c]);
      ASSERT_EQ(product.data<double>()[r * cols + c], p[r * cols + c] * factor.data<double>()[r]);
      ASSERT_EQ(halved.data<double>()[r * cols + c], p[r * cols + c] / 2);
    }
  for (int64_t c = 0; c < cols; ++c) {
    double expected = 0;
    for (int64_t r = 0; r < rows; ++r) expected += p[r * cols + c];
    EXPECT_NEAR(column_sum.data<double>()[c], expected, 1e-10);
  }
  for (int64_t r = 0; r < rows; ++r) {
    double expected = 0;
    for (int64_t c = 0; c < cols; ++c) expected += p[r * cols + c];
    EXPECT_NEAR(row_sum.data<double>()[r], expected, 1e-10);
  }
}

TEST(FnElementwise, ZeroSizeTensorsGiveEmptyResultsAndZeroGradients) {
  Variable empty(Tensor::zeros({3, 0}, DType::F64), true);
  Variable column(random_f64({3, 1}, 600), true);
  Variable sum = fn::add(empty, column);
  EXPECT_EQ(sum.shape(), (Shape{3, 0}));
  sum.backward(Tensor::zeros({3, 0}, DType::F64));
  expect_values(column.grad(), {3, 1}, {0, 0, 0});
  EXPECT_EQ(fn::gelu(empty).shape(), (Shape{3, 0}));
}
