// matmul and linear: gradchecks for every transpose combination, batched and
// shared-b, hand-computed values, f32 vs f64 agreement of values and gradients;
// linear under bf16 autocast, on the CPU and against CUDA.
#include <gtest/gtest.h>

#include <bit>
#include <string>

#include "autograd/functional.h"
#include "op_checks.h"
#include "tensor/float16.h"
#include "tensor/precision.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

// The stored shape of an operand that acts as [rows, cols] (or transposed).
Shape stored(Shape batch, int64_t rows, int64_t cols, bool transposed) {
  batch.push_back(transposed ? cols : rows);
  batch.push_back(transposed ? rows : cols);
  return batch;
}

}  // namespace

TEST(FnLinear, MatmulGradcheckEveryTransposeAndBatchLayout) {
  Generator generator(1);
  uint64_t seed = 10;
  // b_batch empty: a 2-D b shared by every batch entry of a.
  const std::vector<std::pair<Shape, Shape>> layouts = {
      {{}, {}}, {{3}, {3}}, {{2, 2}, {2, 2}}, {{3}, {}}, {{2, 2}, {}}};
  for (const auto& [batch_a, batch_b] : layouts) {
    for (int trans = 0; trans < 4; ++trans) {
      const bool trans_a = trans & 1, trans_b = trans & 2;
      const int64_t m = 1 + static_cast<int64_t>(generator.below(3)), k = 1 + static_cast<int64_t>(generator.below(3)),
                    n = 1 + static_cast<int64_t>(generator.below(3));
      Tensor a = random_f64(stored(batch_a, m, k, trans_a), ++seed);
      Tensor b = random_f64(stored(batch_b, k, n, trans_b), ++seed);
      SCOPED_TRACE("a " + shape_str(a.shape()) + (trans_a ? "^T" : "") + " b " + shape_str(b.shape()) +
                   (trans_b ? "^T" : ""));
      auto f = [=](const std::vector<Variable>& in) { return fn::matmul(in[0], in[1], trans_a, trans_b); };
      Shape expected = batch_a;
      expected.push_back(m);
      expected.push_back(n);
      EXPECT_EQ(f({Variable(a), Variable(b)}).shape(), expected);
      expect_gradcheck(f, {a, b});
      expect_gradcheck(f, {a, b}, {true, false});
      expect_gradcheck(f, {a, b}, {false, true});
      expect_f32_matches_f64(f, {a, b});
    }
  }
}

TEST(FnLinear, MatmulHandComputedValues) {
  Variable a(Tensor::from_vector<double>({2, 2}, {1, 2, 3, 4}));
  Variable b(Tensor::from_vector<double>({2, 2}, {5, 6, 7, 8}));
  expect_values(fn::matmul(a, b).value(), {2, 2}, {19, 22, 43, 50});
  expect_values(fn::matmul(a, b, true).value(), {2, 2}, {26, 30, 38, 44});
  expect_values(fn::matmul(a, b, false, true).value(), {2, 2}, {17, 23, 39, 53});
  expect_values(fn::matmul(a, b, true, true).value(), {2, 2}, {23, 31, 34, 46});
  // Batched [2, 1, 2] @ shared [2, 2]
  Variable rows(Tensor::from_vector<double>({2, 1, 2}, {1, 0, 0, 1}));
  expect_values(fn::matmul(rows, b).value(), {2, 1, 2}, {5, 6, 7, 8});
}

TEST(FnLinear, MatmulSharedRightOperandAccumulatesOverBatch) {
  Variable a(Tensor::full({3, 2, 2}, 1.0, DType::F64), false);
  Variable b(Tensor::zeros({2, 2}, DType::F64), true);
  fn::matmul(a, b, true).backward(Tensor::full({3, 2, 2}, 1.0, DType::F64));
  expect_values(b.grad(), {2, 2}, {6, 6, 6, 6});
  EXPECT_FALSE(a.has_grad());
}

TEST(FnLinear, LinearGradcheck) {
  Generator generator(2);
  uint64_t seed = 100;
  for (const Shape& leading : {Shape{}, Shape{3}, Shape{2, 3}}) {
    for (bool with_bias : {true, false}) {
      const int64_t in = 1 + static_cast<int64_t>(generator.below(4)),
                    out = 1 + static_cast<int64_t>(generator.below(4));
      Shape x_shape = leading;
      x_shape.push_back(in);
      SCOPED_TRACE("x " + shape_str(x_shape) + " -> " + std::to_string(out) + (with_bias ? " with bias" : ""));
      Tensor x = random_f64(x_shape, ++seed), weight = random_f64({out, in}, ++seed), bias = random_f64({out}, ++seed);
      if (with_bias) {
        auto f = [](const std::vector<Variable>& v) { return fn::linear(v[0], v[1], v[2]); };
        expect_gradcheck(f, {x, weight, bias});
        expect_gradcheck(f, {x, weight, bias}, {true, false, false});
        expect_gradcheck(f, {x, weight, bias}, {false, true, true});
        expect_f32_matches_f64(f, {x, weight, bias});
      } else {
        auto f = [](const std::vector<Variable>& v) { return fn::linear(v[0], v[1]); };
        expect_gradcheck(f, {x, weight});
        expect_f32_matches_f64(f, {x, weight});
      }
    }
  }
}

TEST(FnLinear, LinearHandComputedValues) {
  Variable x(Tensor::from_vector<double>({2, 2}, {1, 2, 3, 4}));
  Variable weight(Tensor::from_vector<double>({3, 2}, {1, 0, 0, 1, 1, 1}));
  Variable bias(Tensor::from_vector<double>({3}, {10, 20, 30}));
  expect_values(fn::linear(x, weight, bias).value(), {2, 3}, {11, 22, 33, 13, 24, 37});
  expect_values(fn::linear(x, weight).value(), {2, 3}, {1, 2, 3, 3, 4, 7});
}

TEST(FnLinear, LinearGradientsOnlyForInputsThatNeedThem) {
  Variable x(random_f64({2, 3, 4}, 200), true);
  Variable weight(random_f64({5, 4}, 201), false);
  Variable bias(random_f64({5}, 202), true);
  fn::linear(x, weight, bias).backward(random_f64({2, 3, 5}, 203));
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_FALSE(weight.has_grad());
  EXPECT_EQ(bias.grad().shape(), bias.shape());
}

TEST(FnLinear, EmptyProductsAreZero) {
  Variable a(Tensor::zeros({2, 0}, DType::F64), true), b(Tensor::zeros({0, 3}, DType::F64), true);
  Variable product = fn::matmul(a, b);
  expect_values(product.value(), {2, 3}, {0, 0, 0, 0, 0, 0});
  product.backward(Tensor::full({2, 3}, 1.0, DType::F64));
  EXPECT_EQ(a.grad().shape(), a.shape());
  Variable x(Tensor::zeros({0, 4}, DType::F64), true), weight(random_f64({3, 4}, 300), true);
  Variable bias(random_f64({3}, 301), true);
  Variable y = fn::linear(x, weight, bias);
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  y.backward(Tensor::zeros({0, 3}, DType::F64));
  expect_values(weight.grad(), {3, 4}, std::vector<double>(12, 0.0));
  expect_values(bias.grad(), {3}, {0, 0, 0});
}

TEST(FnLinear, MismatchedShapesThrow) {
  Variable a(Tensor::zeros({2, 3}, DType::F64)), b(Tensor::zeros({2, 3}, DType::F64));
  EXPECT_THROW(fn::matmul(a, b), std::invalid_argument);
  Variable batched_a(Tensor::zeros({2, 2, 3}, DType::F64)), batched_b(Tensor::zeros({3, 3, 2}, DType::F64));
  EXPECT_THROW(fn::matmul(batched_a, batched_b), std::invalid_argument);
  EXPECT_THROW(fn::matmul(Variable(Tensor::zeros({3}, DType::F64)), b), std::invalid_argument);
  EXPECT_THROW(fn::linear(a, Variable(Tensor::zeros({4, 2}, DType::F64))), std::invalid_argument);
  EXPECT_THROW(fn::linear(a, Variable(Tensor::zeros({4, 3}, DType::F64)), Variable(Tensor::zeros({3}, DType::F64))),
               std::invalid_argument);
}

namespace {

// Turns bf16 autocast on for a scope.
struct AutocastBf16 {
  AutocastBf16() { set_autocast_bf16(true); }
  ~AutocastBf16() { set_autocast_bf16(false); }
};

bool is_bf16_value(float value) { return (std::bit_cast<uint32_t>(value) & 0xffffu) == 0; }

float to_bf16_value(float value) { return bfloat16_to_float(float_to_bfloat16(value)); }

// y, dx, dw, db of sum(linear(x, w, b) * seed), on `device`, in f32.
std::vector<Tensor> linear_results(const std::vector<Tensor>& inputs, const Tensor& seed, Device device) {
  std::vector<Variable> v;
  for (const Tensor& input : inputs) v.emplace_back(input.to(device), true);
  Variable y = fn::linear(v[0], v[1], v[2]);
  y.backward(seed.to(device));
  return {y.value().to(Device::CPU), v[0].grad().to(Device::CPU), v[1].grad().to(Device::CPU),
          v[2].grad().to(Device::CPU)};
}

}  // namespace

// Under bf16 autocast a linear layer rounds as torch.autocast does: every
// output and gradient is a bf16 value (kept in f32), the product of the
// bf16-rounded operands summed in f32 (checked against the exact sum of those
// products within half a bf16 step and the f32 sum's error).
TEST(FnLinearAutocast, RoundsOperandsOutputAndGradientsToBfloat16) {
  const std::vector<Tensor> inputs = {random_f64({6, 40}, 1).to(DType::F32), random_f64({5, 40}, 2).to(DType::F32),
                                      random_f64({5}, 3).to(DType::F32)};
  const Tensor seed = random_f64({6, 5}, 4).to(DType::F32);
  std::vector<Tensor> results;
  {
    AutocastBf16 autocast;
    results = linear_results(inputs, seed, Device::CPU);
  }
  for (const Tensor& result : results)
    for (float value : result.to_vector<float>()) EXPECT_TRUE(is_bf16_value(value)) << value;
  const std::vector<float> x = inputs[0].to_vector<float>(), w = inputs[1].to_vector<float>(),
                           b = inputs[2].to_vector<float>(), y = results[0].to_vector<float>();
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      double exact = to_bf16_value(b[j]);
      for (int64_t p = 0; p < 40; ++p) exact += double(to_bf16_value(x[i * 40 + p])) * to_bf16_value(w[j * 40 + p]);
      EXPECT_NEAR(y[i * 5 + j], exact, std::abs(exact) * 0x1p-8 + 1e-5) << i << "," << j;
    }
  // Off again: the f32 layer, whose output is not rounded.
  const std::vector<Tensor> f32 = linear_results(inputs, seed, Device::CPU);
  int unrounded = 0;
  for (float value : f32[0].to_vector<float>()) unrounded += !is_bf16_value(value);
  EXPECT_GT(unrounded, 0);
}

// The same layer on CUDA (a GPU, or the emulator): the bf16 GEMMs' f32 sums
// run in another order, so an element may round one bf16 step the other way.
TEST(FnLinearAutocast, CudaMatchesTheCpu) {
#ifndef CLIPGRAD_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  const std::vector<Tensor> inputs = {random_f64({2, 7, 33}, 5).to(DType::F32), random_f64({9, 33}, 6).to(DType::F32),
                                      random_f64({9}, 7).to(DType::F32)};
  const Tensor seed = random_f64({2, 7, 9}, 8).to(DType::F32);
  AutocastBf16 autocast;
  const std::vector<Tensor> cpu = linear_results(inputs, seed, Device::CPU);
  const std::vector<Tensor> gpu = linear_results(inputs, seed, Device::CUDA);
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_LE(relative_error(gpu[i], cpu[i]), 0x1p-7) << "result " << i;
#endif
}

// matmul under autocast, batched with a shared right operand (the towers'
// projections are 2-D): bf16 values out and back, near the exact product of
// the rounded operands.
TEST(FnLinearAutocast, MatmulRoundsAsLinearDoes) {
  const Tensor a = random_f64({2, 3, 50}, 11).to(DType::F32), b = random_f64({50, 4}, 12).to(DType::F32);
  AutocastBf16 autocast;
  Variable va(a, true), vb(b, true);
  Variable y = fn::matmul(va, vb);
  y.backward(random_f64({2, 3, 4}, 13).to(DType::F32));
  for (const Tensor& t : {y.value(), va.grad(), vb.grad()})
    for (float value : t.to_vector<float>()) EXPECT_TRUE(is_bf16_value(value)) << value;
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(), yv = y.value().to_vector<float>();
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t j = 0; j < 4; ++j) {
      double exact = 0;
      for (int64_t p = 0; p < 50; ++p) exact += double(to_bf16_value(av[r * 50 + p])) * to_bf16_value(bv[p * 4 + j]);
      EXPECT_NEAR(yv[r * 4 + j], exact, std::abs(exact) * 0x1p-8 + 1e-5);
    }
}
