// Shape and indexing ops: forward against naive index arithmetic, gradcheck,
// and f32-vs-f64 agreement.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "autograd/functional.h"
#include "gradcheck.h"
#include "precision_check.h"
#include "tensor/ops/shape.h"

using namespace clipgrad;
using clipgrad::testing::expect_f32_matches_f64;
using clipgrad::testing::expect_gradcheck;
using clipgrad::testing::random_f64;

namespace {

Shape strides_of(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

// out[i0, ..., i(n-1)] = x[index with dims[k] set to ik], one element at a time.
Tensor naive_permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t rank = x.dim();
  Shape out_shape(rank);
  for (int64_t k = 0; k < rank; ++k) out_shape[k] = x.shape()[dims[k]];
  Tensor out = Tensor::empty(out_shape, DType::F64);
  const Shape in_strides = strides_of(x.shape());
  for (int64_t linear = 0; linear < out.numel(); ++linear) {
    int64_t rest = linear, offset = 0;
    for (int64_t k = rank - 1; k >= 0; --k) {
      offset += (rest % out_shape[k]) * in_strides[dims[k]];
      rest /= out_shape[k];
    }
    out.data<double>()[linear] = x.data<double>()[offset];
  }
  return out;
}

Tensor ids_tensor(const Shape& shape, const std::vector<int32_t>& ids) { return Tensor::from_vector(shape, ids); }

}  // namespace

TEST(FnPermute, MatchesNaiveOnFastAndGeneralPaths) {
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const std::vector<Case> cases = {
      {{2, 5, 3, 4}, {0, 2, 1, 3}},        // head split [N, L, H, hd] -> [N, H, L, hd]
      {{2, 3, 5, 4}, {0, 2, 1, 3}},        // head merge
      {{3, 70, 45}, {0, 2, 1}},            // batched transpose, several tiles, parallel
      {{40, 33}, {1, 0}},                  // plain transpose
      {{2, 3, 4}, {2, 0, 1}},              // general
      {{2, 1, 3, 1, 4}, {4, 3, 0, 2, 1}},  // size-1 dims dropped
      {{2, 3, 4, 5}, {3, 1, 0, 2}},
      {{4, 6, 3, 2, 5}, {2, 0, 3, 1, 4}},  // packed q|k|v split
      {{5}, {0}},
      {{3, 4, 5}, {0, 1, 2}},  // identity
  };
  for (const Case& c : cases) {
    Tensor x = random_f64(c.shape, 1);
    Tensor got = ops::permute(x, c.dims);
    Tensor expected = naive_permute(x, c.dims);
    ASSERT_EQ(got.shape(), expected.shape());
    EXPECT_EQ(got.to_vector<double>(), expected.to_vector<double>())
        << "shape " << shape_str(c.shape) << " dims " << shape_str(Shape(c.dims.begin(), c.dims.end()));
    EXPECT_EQ(ops::permute(got, ops::inverse_permutation(c.dims)).to_vector<double>(), x.to_vector<double>());
  }
}

TEST(FnPermute, RandomPermutationsOfRandomShapes) {
  Generator generator(7);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t rank = 1 + static_cast<int64_t>(generator.below(5));
    Shape shape(rank);
    for (int64_t& s : shape) s = 1 + static_cast<int64_t>(generator.below(6));
    std::vector<int64_t> dims(rank);
    std::iota(dims.begin(), dims.end(), 0);
    for (int64_t i = rank - 1; i > 0; --i) std::swap(dims[i], dims[generator.below(i + 1)]);
    Tensor x = random_f64(shape, trial);
    EXPECT_EQ(ops::permute(x, dims).to_vector<double>(), naive_permute(x, dims).to_vector<double>())
        << "shape " << shape_str(shape);
  }
}

TEST(FnPermute, CopiesIntegerTensorsAndRejectsBadDims) {
  Tensor ids = ids_tensor({2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(ops::permute(ids, {1, 0}).to_vector<int32_t>(), (std::vector<int32_t>{0, 3, 1, 4, 2, 5}));
  Variable x(random_f64({2, 3}, 1), true);
  EXPECT_THROW(fn::permute(x, {0, 0}), std::invalid_argument);
  EXPECT_THROW(fn::permute(x, {0}), std::invalid_argument);
  EXPECT_THROW(fn::transpose(x, 0, 2), std::out_of_range);
}

TEST(FnShape, ReshapeIsAViewWithGradient) {
  Variable x(random_f64({2, 3, 4}, 1), true);
  Variable y = fn::reshape(x, {6, -1});
  EXPECT_EQ(y.shape(), (Shape{6, 4}));
  EXPECT_TRUE(y.value().same_storage(x.value()));
  expect_gradcheck(
      [](const std::vector<Variable>& v) {
        return fn::reshape(v[0], {4, -1});
      },
      {random_f64({2, 3, 4}, 2)});
}

TEST(FnShape, PermuteAndTransposeGradcheck) {
  expect_gradcheck(
      [](const std::vector<Variable>& v) {
        return fn::permute(v[0], {0, 2, 1, 3});
      },
      {random_f64({2, 4, 3, 2}, 3)});
  expect_gradcheck(
      [](const std::vector<Variable>& v) {
        return fn::permute(v[0], {2, 0, 1});
      },
      {random_f64({3, 2, 4}, 4)});
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::transpose(v[0], -1, -2); },
                   {random_f64({2, 3, 5}, 5)});
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::transpose(v[0], 0, 2); },
                   {random_f64({4, 1, 3}, 6)});
}

TEST(FnShape, ConcatForwardAndGradcheck) {
  Tensor a = random_f64({2, 1, 3}, 1), b = random_f64({2, 2, 3}, 2);
  Tensor joined = fn::concat({Variable(a), Variable(b)}, 1).value();
  ASSERT_EQ(joined.shape(), (Shape{2, 3, 3}));
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t f = 0; f < 3; ++f) {
      EXPECT_EQ(joined.data<double>()[(n * 3 + 0) * 3 + f], a.data<double>()[n * 3 + f]);
      for (int64_t r = 0; r < 2; ++r)
        EXPECT_EQ(joined.data<double>()[(n * 3 + 1 + r) * 3 + f], b.data<double>()[(n * 2 + r) * 3 + f]);
    }
  auto along = [](int64_t dim) { return [dim](const std::vector<Variable>& v) { return fn::concat(v, dim); }; };
  expect_gradcheck(along(1), {random_f64({2, 1, 3}, 3), random_f64({2, 2, 3}, 4), random_f64({2, 4, 3}, 5)});
  expect_gradcheck(along(-1), {random_f64({3, 2}, 6), random_f64({3, 5}, 7)});
  expect_gradcheck(along(0), {random_f64({1, 4}, 8), random_f64({2, 4}, 9)}, {false, true});
  EXPECT_THROW(fn::concat({Variable(random_f64({2, 3}, 1)), Variable(random_f64({3, 3}, 2))}, 1),
               std::invalid_argument);
}

TEST(FnShape, NarrowForwardAndGradcheck) {
  Tensor x = random_f64({3, 5, 2}, 1);
  Tensor slice = fn::narrow(Variable(x), 1, 1, 3).value();
  ASSERT_EQ(slice.shape(), (Shape{3, 3, 2}));
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t l = 0; l < 3; ++l)
      for (int64_t f = 0; f < 2; ++f)
        EXPECT_EQ(slice.data<double>()[(n * 3 + l) * 2 + f], x.data<double>()[(n * 5 + l + 1) * 2 + f]);
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::narrow(v[0], 1, 1, 3); },
                   {random_f64({3, 5, 2}, 2)});
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::narrow(v[0], -1, 4, 2); }, {random_f64({2, 6}, 3)});
  expect_gradcheck([](const std::vector<Variable>& v) { return fn::narrow(v[0], 0, 0, 1); }, {random_f64({3, 4}, 4)});
  EXPECT_THROW(fn::narrow(Variable(x), 1, 3, 3), std::out_of_range);
}

TEST(FnShape, EmbeddingForwardAndGradcheck) {
  Tensor weight = random_f64({5, 3}, 1);
  Tensor ids = ids_tensor({2, 3}, {4, 0, 4, 2, 2, 1});  // repeats accumulate
  Tensor rows = fn::embedding(ids, Variable(weight)).value();
  ASSERT_EQ(rows.shape(), (Shape{2, 3, 3}));
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t f = 0; f < 3; ++f)
      EXPECT_EQ(rows.data<double>()[i * 3 + f], weight.data<double>()[ids.data<int32_t>()[i] * 3 + f]);
  expect_gradcheck([ids](const std::vector<Variable>& v) { return fn::embedding(ids, v[0]); }, {weight});
  // Wide and long enough for the column-blocked parallel scatter-add: compare with a serial one.
  Tensor many = Tensor::empty({40, 30}, DType::I32);
  for (int64_t i = 0; i < many.numel(); ++i) many.data<int32_t>()[i] = static_cast<int32_t>((i * 7) % 11);
  Tensor grad = random_f64({40, 30, 130}, 2);
  Tensor expected = Tensor::zeros({11, 130}, DType::F64);
  for (int64_t i = 0; i < many.numel(); ++i)
    for (int64_t f = 0; f < 130; ++f)
      expected.data<double>()[many.data<int32_t>()[i] * 130 + f] += grad.data<double>()[i * 130 + f];
  EXPECT_EQ(ops::embedding_backward(many, grad, 11).to_vector<double>(), expected.to_vector<double>());
  EXPECT_THROW(fn::embedding(ids_tensor({1}, {5}), Variable(weight)), std::out_of_range);
  EXPECT_THROW(fn::embedding(ids_tensor({1}, {-1}), Variable(weight)), std::out_of_range);
}

TEST(FnShape, GatherRowsForwardAndGradcheck) {
  Tensor x = random_f64({3, 4, 2}, 1);
  Tensor index = ids_tensor({3}, {3, 0, 3});
  Tensor rows = fn::gather_rows(Variable(x), index).value();
  ASSERT_EQ(rows.shape(), (Shape{3, 2}));
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t f = 0; f < 2; ++f)
      EXPECT_EQ(rows.data<double>()[n * 2 + f], x.data<double>()[(n * 4 + index.data<int32_t>()[n]) * 2 + f]);
  expect_gradcheck([index](const std::vector<Variable>& v) { return fn::gather_rows(v[0], index); }, {x});
  EXPECT_THROW(fn::gather_rows(Variable(x), ids_tensor({3}, {0, 4, 1})), std::out_of_range);
  EXPECT_THROW(fn::gather_rows(Variable(x), ids_tensor({2}, {0, 1})), std::invalid_argument);
}

TEST(FnShape, F32MatchesF64) {
  Tensor ids = ids_tensor({2, 2}, {1, 3, 3, 0});
  Tensor index = ids_tensor({2}, {2, 1});
  expect_f32_matches_f64(
      [&](const std::vector<Variable>& v) {
        Variable joined = fn::concat({fn::permute(v[0], {0, 2, 1}), fn::narrow(v[1], 2, 1, 3)}, 1);  // [2, 5, 3]
        Variable embedded = fn::embedding(ids, v[2]);                                                // [2, 2, 3]
        Variable picked = fn::reshape(fn::gather_rows(joined, index), {2, 1, 3});                    // [2, 1, 3]
        return fn::concat({joined, embedded, fn::reshape(fn::transpose(picked, 0, 1), {2, 1, 3})}, 1);
      },
      {random_f64({2, 3, 2}, 1), random_f64({2, 3, 4}, 2), random_f64({4, 3}, 3)}, 1e-6);
}
