// The backward engine itself: accumulation, no-grad, graph release.
#include <gtest/gtest.h>

#include "autograd/variable.h"
#include "tensor/ops/elementwise.h"

using namespace clipgrad;

namespace {
// y = a * factor, written directly against make_result to test the engine alone.
Variable scaled(const Variable& a, double factor) {
  return make_result(ops::scale(a.value(), factor), {a}, [factor](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::scale(g, factor));
  });
}
}  // namespace

TEST(Engine, AccumulatesOverTwoPathsAndTwoCalls) {
  Variable a(Tensor::from_vector<double>({2}, {1.0, 2.0}), true);
  Variable y = make_result(ops::add(scaled(a, 2).value(), scaled(a, 3).value()), {scaled(a, 2), scaled(a, 3)},
                           [](const Tensor& g, std::vector<Variable>& in) {
                             in[0].add_grad(g);
                             in[1].add_grad(g);
                           });
  y.backward(Tensor::from_vector<double>({2}, {1.0, 1.0}));
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{5.0, 5.0}));
  Variable z = scaled(a, 1);
  z.backward(Tensor::from_vector<double>({2}, {1.0, 1.0}));
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{6.0, 6.0}));
}

TEST(Engine, SharedGradientIsNotWrittenThrough) {
  Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
  Variable b(Tensor::from_vector<double>({1}, {1.0}), true);
  Variable y = make_result(ops::add(a.value(), b.value()), {a, b}, [](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(g);
    in[1].add_grad(g);
  });
  y.backward(Tensor::from_vector<double>({1}, {1.0}));
  a.add_grad(Tensor::from_vector<double>({1}, {10.0}));
  EXPECT_EQ(a.grad().item(), 11.0);
  EXPECT_EQ(b.grad().item(), 1.0);
}

TEST(Engine, NoGradGuardRecordsNothing) {
  Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
  {
    NoGradGuard guard;
    EXPECT_FALSE(scaled(a, 2).requires_grad());
  }
  EXPECT_TRUE(scaled(a, 2).requires_grad());
}

TEST(Engine, ReleasesSavedStateUnlessKept) {
  Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
  Variable y = scaled(a, 2);
  y.backward(Tensor::from_vector<double>({1}, {1.0}), /*keep_graph=*/true);
  EXPECT_FALSE(y.is_leaf());
  y.backward(Tensor::from_vector<double>({1}, {1.0}));
  EXPECT_TRUE(y.is_leaf());
  EXPECT_EQ(a.grad().item(), 4.0);
}
