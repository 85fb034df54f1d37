// The fused contrastive cross-entropy: gradcheck in both modes, the same loss
// and gradient as the cross_entropy composition it replaces, stability on
// large logits, and its shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>

#include "autograd/functional.h"
#include "op_checks.h"
#include "precision_check.h"

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

using ops::ContrastiveDirections;

Tensor diagonal(int64_t n) {
  std::vector<int32_t> targets(n);
  std::iota(targets.begin(), targets.end(), 0);
  return Tensor::from_vector<int32_t>({n}, targets);
}

// What clip/train/loss.cpp and cleanclip/objective.cpp computed before the fused op.
Variable composed_loss(const Variable& logits, ContrastiveDirections directions) {
  Tensor targets = diagonal(logits.size(0));
  Variable rows = fn::cross_entropy(logits, targets);
  if (directions == ContrastiveDirections::RowsOnly) return rows;
  return fn::scale(fn::add(rows, fn::cross_entropy(fn::transpose(logits, 0, 1), targets)), 0.5);
}

struct LossAndGrad {
  Tensor loss, grad;
};

template <class Loss>
LossAndGrad loss_and_grad(const Tensor& logits, ContrastiveDirections directions, Loss loss_fn) {
  Variable x(logits.clone(), true);
  Variable loss = loss_fn(x, directions);
  loss.backward();
  return {loss.value(), x.grad()};
}

// ||got - want|| / ||want||: strict for gradients of size 1 / n, where an error relative to 1 would not be.
double norm_relative_error(const Tensor& got, const Tensor& want) {
  const Tensor a = got.to(DType::F64), b = want.to(DType::F64);
  double difference = 0, reference = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    difference += std::pow(a.data<double>()[i] - b.data<double>()[i], 2);
    reference += std::pow(b.data<double>()[i], 2);
  }
  return std::sqrt(difference / reference);
}

const ContrastiveDirections kBoth[] = {ContrastiveDirections::Symmetric, ContrastiveDirections::RowsOnly};

std::string mode_name(ContrastiveDirections directions) {
  return directions == ContrastiveDirections::Symmetric ? "symmetric" : "rows only";
}

}  // namespace

TEST(FnContrastive, Gradcheck) {
  for (ContrastiveDirections directions : kBoth) {
    for (int64_t n : {1, 2, 5, 9}) {
      SCOPED_TRACE(mode_name(directions) + ", n = " + std::to_string(n));
      auto f = [directions](const std::vector<Variable>& in) {
        return fn::contrastive_cross_entropy(in[0], directions);
      };
      expect_gradcheck(f, {random_f64({n, n}, 100 + n, 3.0)});
      expect_f32_matches_f64(f, {random_f64({n, n}, 200 + n, 3.0)});
    }
  }
}

// The switch of the CLIP and in-modal losses to the fused op must not move
// them: loss and gradient equal to the composition's within 1e-6 relative in
// f32 (1e-12 in f64), on a batch large enough for the parallel paths (n = 300).
TEST(FnContrastive, MatchesCrossEntropyComposition) {
  for (ContrastiveDirections directions : kBoth) {
    for (int64_t n : {3, 64, 300}) {
      for (DType dtype : {DType::F64, DType::F32}) {
        SCOPED_TRACE(mode_name(directions) + ", n = " + std::to_string(n) + ", " + dtype_name(dtype));
        // Logits at CLIP's scale: cosines in [-1, 1] times up to 100.
        Tensor logits = random_f64({n, n}, 300 + n, 30.0).to(dtype);
        LossAndGrad fused = loss_and_grad(logits, directions, fn::contrastive_cross_entropy);
        LossAndGrad reference = loss_and_grad(logits, directions, composed_loss);
        const double tolerance = dtype == DType::F64 ? 1e-12 : 1e-6;
        EXPECT_LE(norm_relative_error(fused.loss, reference.loss), tolerance);
        EXPECT_LE(norm_relative_error(fused.grad, reference.grad), tolerance);
      }
    }
  }
}

TEST(FnContrastive, HandValues) {
  // [[0, ln 3], [0, 0]], diagonal 0: rows lse = ln 4, ln 2; columns lse = ln 2, ln 4.
  Tensor logits = Tensor::from_vector<double>({2, 2}, {0.0, std::log(3.0), 0.0, 0.0});
  Variable x(logits, true);
  Variable rows = fn::contrastive_cross_entropy(x, ContrastiveDirections::RowsOnly);
  EXPECT_NEAR(rows.value().item(), (std::log(4.0) + std::log(2.0)) / 2, 1e-15);
  Variable both = fn::contrastive_cross_entropy(x, ContrastiveDirections::Symmetric);
  const double columns = (std::log(2.0) + (std::log(4.0) - 0.0)) / 2;
  EXPECT_NEAR(both.value().item(), ((std::log(4.0) + std::log(2.0)) / 2 + columns) / 2, 1e-15);
}

TEST(FnContrastive, LargeLogitsStayFinite) {
  Tensor logits = Tensor::from_vector<float>({2, 2}, {1e4f, -1e4f, 3e4f, 2e4f});
  LossAndGrad fused = loss_and_grad(logits, ContrastiveDirections::Symmetric, fn::contrastive_cross_entropy);
  // rows: 0 and 1e4; columns: 2e4 and 0 -> (0 + 1e4 + 2e4 + 0) / 4
  EXPECT_NEAR(fused.loss.item(), 7500.0, 1e-2);
  for (float g : fused.grad.to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(FnContrastive, RejectsNonSquareOrEmptyLogits) {
  for (const Shape& shape : {Shape{2, 3}, Shape{0, 0}, Shape{4}}) {
    Variable x(Tensor::zeros(shape), true);
    EXPECT_THROW(fn::contrastive_cross_entropy(x, ContrastiveDirections::Symmetric), std::invalid_argument)
        << shape_str(shape);
  }
}
