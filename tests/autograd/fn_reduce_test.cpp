// Reductions, softmax, cross-entropy, layer_norm, l2_normalize: gradchecks on
// random shapes along every dim, hand-computed (PyTorch) values, stability on
// extreme inputs, f32 vs f64 agreement of values and gradients.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <string>

#include "autograd/functional.h"
#include "op_checks.h"

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

using AlongDim = std::function<Variable(const Variable&, int64_t)>;

// Gradcheck and f32 agreement of op along every dim (positive and negative)
// of random shapes of rank 1 to 3.
void check_along_every_dim(const char* name, const AlongDim& op, uint64_t seed) {
  Generator generator(seed);
  for (int64_t rank = 1; rank <= 3; ++rank) {
    Shape shape = random_shape(generator, rank);
    Tensor x = random_f64(shape, ++seed);
    for (int64_t dim = -rank; dim < rank; ++dim) {
      SCOPED_TRACE(std::string(name) + " of " + shape_str(shape) + " along " + std::to_string(dim));
      auto f = [&](const std::vector<Variable>& in) { return op(in[0], dim); };
      expect_gradcheck(f, {x});
      expect_f32_matches_f64(f, {x});
    }
  }
}

Tensor random_targets(int64_t rows, int64_t classes, uint64_t seed) {
  Generator generator(seed);
  std::vector<int32_t> targets(rows);
  for (int32_t& target : targets) target = static_cast<int32_t>(generator.below(classes));
  return Tensor::from_vector<int32_t>({rows}, targets);
}

}  // namespace

TEST(FnReduce, SumAndMeanGradcheck) {
  check_along_every_dim(
      "sum", [](const Variable& x, int64_t d) { return fn::sum(x, d); }, 10);
  check_along_every_dim(
      "sum keepdim", [](const Variable& x, int64_t d) { return fn::sum(x, d, true); }, 20);
  check_along_every_dim(
      "mean", [](const Variable& x, int64_t d) { return fn::mean(x, d); }, 30);
  check_along_every_dim(
      "mean keepdim", [](const Variable& x, int64_t d) { return fn::mean(x, d, true); }, 40);
}

TEST(FnReduce, SumAllGradcheck) {
  for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3, 2}}) {
    Tensor x = random_f64(shape, 50);
    auto f = [](const std::vector<Variable>& in) { return fn::sum_all(in[0]); };
    expect_gradcheck(f, {x});
    expect_f32_matches_f64(f, {x});
  }
}

TEST(FnReduce, SoftmaxAndLogSoftmaxGradcheck) {
  check_along_every_dim(
      "softmax", [](const Variable& x, int64_t d) { return fn::softmax(x, d); }, 60);
  check_along_every_dim(
      "log_softmax", [](const Variable& x, int64_t d) { return fn::log_softmax(x, d); }, 70);
}

TEST(FnReduce, L2NormalizeGradcheck) {
  check_along_every_dim(
      "l2_normalize", [](const Variable& x, int64_t d) { return fn::l2_normalize(x, d); }, 80);
}

TEST(FnReduce, CrossEntropyGradcheck) {
  Generator generator(90);
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t rows = 1 + static_cast<int64_t>(generator.below(5)),
                  classes = 1 + static_cast<int64_t>(generator.below(6));
    SCOPED_TRACE("logits [" + std::to_string(rows) + "," + std::to_string(classes) + "]");
    Tensor logits = random_f64({rows, classes}, 91 + trial, 2.0);
    Tensor targets = random_targets(rows, classes, 95 + trial);
    auto f = [&](const std::vector<Variable>& in) { return fn::cross_entropy(in[0], targets); };
    expect_gradcheck(f, {logits});
    expect_f32_matches_f64(f, {logits});
  }
}

TEST(FnReduce, LayerNormGradcheck) {
  Generator generator(100);
  for (int64_t rank = 1; rank <= 3; ++rank) {
    Shape shape = random_shape(generator, rank);
    shape.back() = 2 + static_cast<int64_t>(generator.below(4));
    SCOPED_TRACE(shape_str(shape));
    Tensor x = random_f64(shape, 101 + rank, 2.0);
    Tensor weight = random_f64({shape.back()}, 111 + rank), bias = random_f64({shape.back()}, 121 + rank);
    auto f = [](const std::vector<Variable>& in) { return fn::layer_norm(in[0], in[1], in[2]); };
    expect_gradcheck(f, {x, weight, bias});
    expect_gradcheck(f, {x, weight, bias}, {true, false, false});
    expect_gradcheck(f, {x, weight, bias}, {false, true, true});
    expect_f32_matches_f64(f, {x, weight, bias});
  }
}

TEST(FnReduce, LayerNormComputesOnlyRequestedGradients) {
  Variable x(random_f64({2, 4}, 130), false);
  Variable weight(random_f64({4}, 131), true);
  Variable bias(random_f64({4}, 132), false);
  fn::layer_norm(x, weight, bias).backward(random_f64({2, 4}, 133));
  EXPECT_FALSE(x.has_grad());
  EXPECT_TRUE(weight.has_grad());
  EXPECT_FALSE(bias.has_grad());
}

TEST(FnReduce, HandComputedValues) {
  Variable x(Tensor::from_vector<double>({2, 3}, {1, 2, 3, 4, 5, 6}));
  expect_values(fn::sum(x, 0).value(), {3}, {5, 7, 9});
  expect_values(fn::sum(x, -1, true).value(), {2, 1}, {6, 15});
  expect_values(fn::mean(x, 1).value(), {2}, {2, 5});
  expect_values(fn::sum_all(x).value(), {}, {21});

  Variable row(Tensor::from_vector<double>({3}, {1, 2, 3}));
  expect_values(fn::softmax(row).value(), {3}, {0.09003057317038045, 0.2447284710547976, 0.6652409557748218});
  expect_values(fn::log_softmax(row).value(), {3}, {-2.4076059644443806, -1.4076059644443804, -0.4076059644443804});

  Variable logits(Tensor::from_vector<double>({2, 3}, {1, 2, 3, 1, 0, 0}));
  expect_values(fn::cross_entropy(logits, Tensor::from_vector<int32_t>({2}, {2, 0})).value(), {}, {0.4795253391882157});

  Variable features(Tensor::from_vector<double>({2, 3}, {1, 2, 3, -1, 0.5, 4}));
  Variable weight(Tensor::from_vector<double>({3}, {2, 1, 0.5})), bias(Tensor::from_vector<double>({3}, {1, 0, -1}));
  expect_values(
      fn::layer_norm(features, weight, bias).value(), {2, 3},
      {-1.4494713718167804, 0.0, -0.3876321570458049, -1.0684465824001088, -0.31822255113847825, -0.3237770788307338});

  Variable vectors(Tensor::from_vector<double>({2, 2}, {3, 4, 0, 0}));
  expect_values(fn::l2_normalize(vectors).value(), {2, 2}, {0.6, 0.8, 0, 0});
  expect_values(fn::l2_normalize(vectors, 0).value(), {2, 2}, {1, 1, 0, 0});
}

TEST(FnReduce, StableOnExtremeLogits) {
  Variable big(Tensor::from_vector<float>({2, 2}, {1000, 1001, -1000, 1000}), true);
  expect_values(fn::softmax(big).value(), {2, 2}, {0.2689414213699951, 0.7310585786300049, 0, 1}, 1e-6);
  expect_values(fn::log_softmax(big).value(), {2, 2}, {-1.3132616875182228, -0.31326168751822286, -2000, 0}, 1e-4);
  Variable loss = fn::cross_entropy(big, Tensor::from_vector<int32_t>({2}, {0, 0}));
  expect_values(loss.value(), {}, {(1.3132616875182228 + 2000) / 2}, 1e-3);
  loss.backward();
  expect_values(big.grad(), {2, 2}, {(0.2689414213699951 - 1) / 2, 0.7310585786300049 / 2, -0.5, 0.5}, 1e-6);
}

TEST(FnReduce, BadArgumentsThrow) {
  Variable logits(Tensor::zeros({2, 3}, DType::F64));
  EXPECT_THROW(fn::cross_entropy(logits, Tensor::from_vector<int32_t>({2}, {0, 3})), std::out_of_range);
  EXPECT_THROW(fn::cross_entropy(logits, Tensor::from_vector<int32_t>({3}, {0, 1, 2})), std::invalid_argument);
  EXPECT_THROW(fn::sum(logits, 2), std::out_of_range);
  EXPECT_THROW(fn::softmax(logits, -3), std::out_of_range);
  Variable weight(Tensor::zeros({2}, DType::F64)), bias(Tensor::zeros({3}, DType::F64));
  EXPECT_THROW(fn::layer_norm(logits, weight, bias), std::invalid_argument);
  EXPECT_THROW(fn::layer_norm(logits, Variable(), bias), std::invalid_argument);
}

TEST(FnReduce, LargeInputsMatchSmallLoops) {
  // Past the OpenMP threshold: the parallel paths give the serial answers.
  const int64_t rows = 260, cols = 300;
  Tensor x = random_f64({rows, cols}, 140);
  Variable input(x);
  Tensor column_sums = fn::sum(input, 0).value(), row_means = fn::mean(input, 1).value();
  Tensor probabilities = fn::softmax(input, 0).value();
  const double* p = x.data<double>();
  for (int64_t c = 0; c < cols; ++c) {
    double expected = 0, max = -INFINITY, normaliser = 0;
    for (int64_t r = 0; r < rows; ++r) {
      expected += p[r * cols + c];
      max = std::max(max, p[r * cols + c]);
    }
    EXPECT_NEAR(column_sums.data<double>()[c], expected, 1e-10);
    for (int64_t r = 0; r < rows; ++r) normaliser += std::exp(p[r * cols + c] - max);
    EXPECT_NEAR(probabilities.data<double>()[c], std::exp(p[c] - max) / normaliser, 1e-15);
  }
  for (int64_t r = 0; r < rows; ++r) {
    double expected = 0;
    for (int64_t c = 0; c < cols; ++c) expected += p[r * cols + c];
    EXPECT_NEAR(row_means.data<double>()[r], expected / cols, 1e-12);
  }
  EXPECT_NEAR(fn::sum_all(input).value().item(), fn::sum_all(Variable(column_sums)).value().item(), 1e-9);
}

TEST(FnReduce, ZeroSizeDims) {
  Variable empty(Tensor::zeros({2, 0}, DType::F64), true);
  expect_values(fn::sum(empty, 1).value(), {2}, {0, 0});
  EXPECT_EQ(fn::sum(empty, 0).shape(), (Shape{0}));
  EXPECT_EQ(fn::softmax(empty).shape(), (Shape{2, 0}));
  Variable total = fn::sum_all(empty);
  expect_values(total.value(), {}, {0});
  total.backward();
  EXPECT_EQ(empty.grad().shape(), empty.shape());
}

TEST(FnReduce, GradientsDoNotDependOnThreadCount) {
  // Bit-for-bit reproducible training on CPU: every sum has a fixed order.
  Tensor x = random_f64({200, 3, 130}, 150).to(DType::F32);
  Tensor weight = random_f64({130}, 151).to(DType::F32), bias = random_f64({130}, 152).to(DType::F32);
  Tensor seed = random_f64({200, 3, 130}, 153).to(DType::F32);
  auto gradients = [&](int threads) {
    const int previous = omp_get_max_threads();
    omp_set_num_threads(threads);
    Variable input(x, true), w(weight, true), b(bias, true);
    Variable y = fn::add(fn::layer_norm(input, w, b), fn::softmax(input, 1));
    fn::mul(y, fn::sum_all(y)).backward(seed);
    omp_set_num_threads(previous);
    return std::vector<Tensor>{input.grad(), w.grad(), b.grad()};
  };
  std::vector<Tensor> one = gradients(1), two = gradients(2);
  for (size_t i = 0; i < one.size(); ++i)
    EXPECT_EQ(one[i].to_vector<float>(), two[i].to_vector<float>()) << "gradient " << i;
}
