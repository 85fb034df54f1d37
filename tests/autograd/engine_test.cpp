// The backward engine itself: accumulation, no-grad, graph release.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>

#include "autograd/variable.h"
#include "tensor/ops/elementwise.h"

using namespace clipgrad;

namespace {
// y = a * factor, written directly against make_result to test the engine alone.
Variable scaled(const Variable& a, double factor) {
  return make_result(ops::scale(a.value(), factor), {a},
                     [factor](const Tensor& g, std::vector<Variable>& in) { in[0].add_grad(ops::scale(g, factor)); });
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

TEST(Engine, ReleasesTheGraphUnlessKept) {
  Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
  Variable y = scaled(a, 2);
  y.backward(Tensor::from_vector<double>({1}, {1.0}), /*keep_graph=*/true);
  EXPECT_FALSE(y.is_leaf());
  y.backward(Tensor::from_vector<double>({1}, {1.0}));
  EXPECT_EQ(a.grad().item(), 4.0);
  EXPECT_FALSE(y.is_leaf());  // released, not turned into a leaf
  EXPECT_EQ(y.node()->inputs.size(), 0u);
  EXPECT_FALSE(y.node()->backward);
}

// The bug this guards against: a second backward through a released graph
// used to skip the released nodes and leave wrong gradients without a word.
TEST(Engine, SecondBackwardThroughAReleasedGraphThrows) {
  Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
  Variable middle = scaled(a, 2);
  Variable y = scaled(middle, 3);
  y.backward(Tensor::from_vector<double>({1}, {1.0}));
  EXPECT_EQ(a.grad().item(), 6.0);
  EXPECT_THROW(y.backward(Tensor::from_vector<double>({1}, {1.0})), std::logic_error);
  // A new result built on the released middle node reaches it as an input.
  Variable z = scaled(middle, 5);
  try {
    z.backward(Tensor::from_vector<double>({1}, {1.0}));
    FAIL() << "expected a throw";
  } catch (const std::logic_error& error) {
    EXPECT_NE(std::string(error.what()).find("keep_graph"), std::string::npos) << error.what();
  }
  EXPECT_EQ(a.grad().item(), 6.0);  // untouched by the refused sweeps
}

TEST(Engine, BackwardFromALeafThrows) {
  Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
  EXPECT_THROW(a.backward(), std::logic_error);
  Variable frozen(Tensor::from_vector<double>({1}, {1.0}), false);
  EXPECT_THROW(frozen.backward(), std::logic_error);
}

TEST(Engine, AddGradChecksShapeDtypeAndDevice) {
  Variable a(Tensor::from_vector<double>({2}, {1.0, 2.0}), true);
  EXPECT_THROW(a.add_grad(Tensor::zeros({3}, DType::F64)), std::logic_error);
  EXPECT_THROW(a.add_grad(Tensor::zeros({2}, DType::F32)), std::logic_error);
  a.add_grad(Tensor::zeros({2}, DType::F64));
  EXPECT_TRUE(a.has_grad());
}

// Host memory handed out and not yet returned, by address.
class TrackingAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    void* pointer = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    live.insert(pointer);
    return pointer;
  }
  void deallocate(void* pointer, size_t) noexcept override {
    live.erase(pointer);
    std::free(pointer);
  }
  std::set<void*> live;
};

// Each node (its value and what its backward saved) dies during the sweep,
// as soon as its backward has run, not when backward() returns: the first
// op's backward runs last and checks that the values of the ops after it,
// which no one outside holds, are gone by then.
TEST(Engine, FreesEachNodeAsSoonAsItsBackwardHasRun) {
  TrackingAllocator tracking;
  set_allocator(Device::CPU, &tracking);
  {
    Variable a(Tensor::from_vector<double>({1}, {1.0}), true);
    std::vector<void*> values;  // [4] each op's value
    std::vector<bool> later_alive;
    Variable x = a;
    for (int i = 0; i < 4; ++i) {
      x = make_result(ops::scale(x.value(), 2.0), {x},
                      [i, &values, &later_alive, &tracking](const Tensor& g, std::vector<Variable>& in) {
                        if (i == 0)  // ops 1 and 2 are intermediate; op 3 is the root, held by `x`
                          for (int j = 1; j < 3; ++j) later_alive.push_back(tracking.live.count(values[j]) > 0);
                        in[0].add_grad(ops::scale(g, 2.0));
                      });
      values.push_back(x.value().raw_data());
    }
    x.backward(Tensor::from_vector<double>({1}, {1.0}));
    EXPECT_EQ(a.grad().item(), 16.0);
    EXPECT_EQ(later_alive, (std::vector<bool>{false, false}));
    EXPECT_TRUE(tracking.live.count(values[3]));
  }
  set_allocator(Device::CPU, nullptr);
}
