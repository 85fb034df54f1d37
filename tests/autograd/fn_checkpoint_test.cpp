// fn::checkpoint: the output and every gradient those of the body itself, to
// the bit, with the body's graph built only in backward; a gradcheck through
// it; and an input that needs no gradient.
#include <gtest/gtest.h>

#include "autograd/functional.h"
#include "op_checks.h"

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

// A block's shape: y = x + gelu(x W^T + b) W2^T, x [N, D], W [H, D], W2 [D, H].
Variable block(const Variable& x, const Variable& w, const Variable& b, const Variable& w2) {
  return fn::add(x, fn::linear(fn::gelu(fn::linear(x, w, b)), w2));
}

struct Grads {
  std::vector<float> output, x, w, b, w2;
};

Grads run(bool checkpointed, bool input_needs_grad) {
  Variable x(random_f64({5, 4}, 1).to(DType::F32), input_needs_grad);
  Variable w(random_f64({6, 4}, 2).to(DType::F32), true), b(random_f64({6}, 3).to(DType::F32), true);
  Variable w2(random_f64({4, 6}, 4).to(DType::F32), true);
  auto body = [&](const Variable& in) { return block(in, w, b, w2); };
  Variable y = checkpointed ? fn::checkpoint(body, x, {w, b, w2}) : body(x);
  fn::sum_all(fn::mul(y, y)).backward();
  Grads grads{y.value().to_vector<float>(),
              {},
              w.grad().to_vector<float>(),
              b.grad().to_vector<float>(),
              w2.grad().to_vector<float>()};
  if (input_needs_grad) grads.x = x.grad().to_vector<float>();
  return grads;
}

}  // namespace

TEST(FnCheckpoint, OutputAndGradientsAreTheBodysToTheBit) {
  for (const bool input_needs_grad : {true, false}) {
    SCOPED_TRACE(input_needs_grad ? "input needs a gradient" : "input needs none");
    const Grads plain = run(false, input_needs_grad), checkpointed = run(true, input_needs_grad);
    EXPECT_EQ(checkpointed.output, plain.output);
    EXPECT_EQ(checkpointed.x, plain.x);
    EXPECT_EQ(checkpointed.w, plain.w);  // counted once: the replay's gradients are not added twice
    EXPECT_EQ(checkpointed.b, plain.b);
    EXPECT_EQ(checkpointed.w2, plain.w2);
  }
}

TEST(FnCheckpoint, Gradcheck) {
  auto f = [](const std::vector<Variable>& in) {
    return fn::checkpoint([&](const Variable& x) { return block(x, in[1], in[2], in[3]); }, in[0],
                          {in[1], in[2], in[3]});
  };
  expect_gradcheck(f, {random_f64({3, 4}, 5), random_f64({5, 4}, 6), random_f64({5}, 7), random_f64({4, 5}, 8)});
}

TEST(FnCheckpoint, TheBodyRunsOnceInForwardAndAgainInBackward) {
  Variable x(random_f64({2, 4}, 9), true), w(random_f64({3, 4}, 10), true), b(random_f64({3}, 11), true),
      w2(random_f64({4, 3}, 12), true);
  int calls = 0;
  auto body = [&](const Variable& in) {
    ++calls;
    return block(in, w, b, w2);
  };
  Variable y = fn::checkpoint(body, x, {w, b, w2});
  EXPECT_EQ(calls, 1);
  fn::sum_all(y).backward();
  EXPECT_EQ(calls, 2);  // run again, with a graph, in backward
  EXPECT_TRUE(x.has_grad());
}
