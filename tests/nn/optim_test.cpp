// AdamW against torch.optim.AdamW, checkpointed optimizer state, CLIP's
// decay groups, the warmup-cosine schedule and gradient-norm clipping, and
// the multi-tensor step and the clip coefficient folded into it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <string>
#include <vector>

#include "nn/optim.h"
#include "tensor/random.h"

using namespace clipgrad;

namespace {

// The scenario of tools/adamw_reference.py: a and c decay 0.1, b and d none;
// c has a gradient only at steps 2 and 4, d never; gradient 2 * (p - target).
struct Problem {
  Variable a{Tensor::from_vector<float>({2, 3}, {0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f}), true};
  Variable b{Tensor::from_vector<float>({3}, {0.3f, -0.2f, 0.9f}), true};
  Variable c{Tensor::from_vector<float>({2}, {1.25f, -0.5f}), true};
  Variable d{Tensor::from_vector<float>({2}, {0.7f, -0.4f}), true};
  Tensor target_a = Tensor::from_vector<float>({2, 3}, {0.1f, 0.2f, -0.3f, 0.4f, 0.0f, -0.6f});
  Tensor target_b = Tensor::from_vector<float>({3}, {-0.5f, 0.5f, 0.25f});
  Tensor target_c = Tensor::from_vector<float>({2}, {0.0f, 1.0f});

  nn::AdamW optimizer() { return nn::AdamW({{{a, c}, 0.1}, {{b, d}, 0.0}}, 0.01, 0.9, 0.98, 1e-6); }

  static void set_gradient(Variable& p, const Tensor& target) {
    std::vector<float> values = p.value().to_vector<float>(), goal = target.to_vector<float>();
    for (size_t i = 0; i < values.size(); ++i) values[i] = 2 * (values[i] - goal[i]);
    p.zero_grad();
    p.add_grad(Tensor::from_vector<float>(p.shape(), values));
  }

  // Step number `step` (1-based) of the scenario.
  void run_step(nn::AdamW& optimizer, int step) {
    if (step == 4) optimizer.set_lr(0.005);
    set_gradient(a, target_a);
    set_gradient(b, target_b);
    if (step == 2 || step == 4) {
      set_gradient(c, target_c);
    } else {
      c.zero_grad();
    }
    optimizer.step();
  }
};

// Printed by tools/adamw_reference.py (torch 2.15, CPU, f32).
const std::vector<float> expected_a = {0.458130538f, -0.956088901f, 0.209107816f,
                                       1.95209122f,  -0.707099795f, 1.45408356f};
const std::vector<float> expected_b = {0.260028213f, -0.16003266f, 0.86003536f};
const std::vector<float> expected_c = {1.23313153f, -0.484256029f};
const std::vector<float> expected_d = {0.699999988f, -0.400000006f};

void expect_float_eq(const Variable& p, const std::vector<float>& want) {
  std::vector<float> got = p.value().to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << "element " << i;
}

bool has_entry(const std::vector<std::pair<std::string, Tensor>>& state, const std::string& name) {
  for (const auto& [key, tensor] : state)
    if (key == name) return true;
  return false;
}

}  // namespace

TEST(AdamW, MatchesTorchOverFiveSteps) {
  Problem problem;
  nn::AdamW optimizer = problem.optimizer();
  for (int step = 1; step <= 5; ++step) problem.run_step(optimizer, step);
  EXPECT_EQ(optimizer.step_count(), 5);
  expect_float_eq(problem.a, expected_a);
  expect_float_eq(problem.b, expected_b);
  expect_float_eq(problem.c, expected_c);
  EXPECT_EQ(problem.d.value().to_vector<float>(), (std::vector<float>{0.7f, -0.4f}));  // never had a gradient
}

TEST(AdamW, ZeroGradClearsAllGroups) {
  Problem problem;
  nn::AdamW optimizer = problem.optimizer();
  problem.run_step(optimizer, 2);
  optimizer.zero_grad();
  for (const Variable* p : {&problem.a, &problem.b, &problem.c, &problem.d}) EXPECT_FALSE(p->has_grad());
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  Problem original;
  nn::AdamW optimizer = original.optimizer();
  for (int step = 1; step <= 3; ++step) original.run_step(optimizer, step);
  std::vector<std::pair<std::string, Tensor>> state = optimizer.state();
  EXPECT_TRUE(has_entry(state, "step.1"));
  EXPECT_TRUE(has_entry(state, "exp_avg_sq.1"));
  EXPECT_FALSE(has_entry(state, "exp_avg.3"));  // d has no moments: it never moved

  Problem resumed;
  std::vector<std::pair<Variable*, Variable*>> copies = {
      {&original.a, &resumed.a}, {&original.b, &resumed.b}, {&original.c, &resumed.c}};
  for (auto [from, to] : copies) to->value().copy_from(from->value());
  nn::AdamW restored = resumed.optimizer();
  restored.load_state(state);
  restored.set_lr(optimizer.lr());
  EXPECT_EQ(restored.step_count(), 3);

  for (int step = 4; step <= 5; ++step) {
    original.run_step(optimizer, step);
    resumed.run_step(restored, step);
  }
  EXPECT_EQ(resumed.a.value().to_vector<float>(), original.a.value().to_vector<float>());
  EXPECT_EQ(resumed.b.value().to_vector<float>(), original.b.value().to_vector<float>());
  EXPECT_EQ(resumed.c.value().to_vector<float>(), original.c.value().to_vector<float>());
  expect_float_eq(resumed.c, expected_c);
}

TEST(AdamW, StateIsASnapshot) {
  Problem problem;
  nn::AdamW optimizer = problem.optimizer();
  problem.run_step(optimizer, 1);
  std::vector<std::pair<std::string, Tensor>> state = optimizer.state();
  std::vector<float> saved;
  for (const auto& [name, tensor] : state)
    if (name == "exp_avg.0") saved = tensor.to_vector<float>();
  problem.run_step(optimizer, 2);
  for (const auto& [name, tensor] : state)
    if (name == "exp_avg.0") EXPECT_EQ(tensor.to_vector<float>(), saved);
}

TEST(AdamW, LoadStateNamesWhatDoesNotFit) {
  Problem problem;
  nn::AdamW optimizer = problem.optimizer();
  problem.run_step(optimizer, 2);
  std::vector<std::pair<std::string, Tensor>> state;
  for (auto& [name, tensor] : optimizer.state()) {
    if (name == "step.2") continue;
    state.emplace_back(name, name == "exp_avg.0" ? Tensor::zeros({3, 2}) : tensor);
  }
  state.emplace_back("exp_avg.9", Tensor::zeros({2}));
  std::string message;
  try {
    problem.optimizer().load_state(state);
  } catch (const std::invalid_argument& error) {
    message = error.what();
  }
  EXPECT_NE(message.find("missing entry 'step.2'"), std::string::npos) << message;
  EXPECT_NE(message.find("moments of parameter 0 have shapes [3,2]"), std::string::npos) << message;
  EXPECT_NE(message.find("unexpected entry 'exp_avg.9'"), std::string::npos) << message;
}

// A parameter big enough for the OpenMP path must update exactly as the same
// values held in small parameters do.
TEST(AdamW, LargeParametersMatchSmallOnes) {
  const int64_t n = 40000, pieces = 4;  // above the parallel threshold, pieces below it
  Tensor values = Tensor::empty({n}), grads = Tensor::empty({n});
  Generator generator(9);
  fill_normal(values, 0.0, 1.0, generator);
  fill_normal(grads, 0.0, 1.0, generator);
  Variable large(values.clone(), true);
  std::vector<Variable> small;
  for (int64_t k = 0; k < pieces; ++k)
    small.emplace_back(values.rows(k * n / pieces, (k + 1) * n / pieces).clone(), true);
  nn::AdamW large_optimizer({{{large}, 0.1}}, 1e-3), small_optimizer({{small, 0.1}}, 1e-3);
  for (int step = 0; step < 3; ++step) {
    large.zero_grad();
    large.add_grad(grads);
    for (int64_t k = 0; k < pieces; ++k) {
      small[k].zero_grad();
      small[k].add_grad(grads.rows(k * n / pieces, (k + 1) * n / pieces).clone());
    }
    EXPECT_NEAR(nn::clip_grad_norm({large}, 1e9), nn::clip_grad_norm(small, 1e9), 1e-9 * std::sqrt(double(n)));
    large_optimizer.step();
    small_optimizer.step();
  }
  std::vector<float> joined;
  for (const Variable& piece : small)
    for (float v : piece.value().to_vector<float>()) joined.push_back(v);
  EXPECT_EQ(large.value().to_vector<float>(), joined);
}

TEST(AdamW, RejectsBadHyperparameters) {
  Variable p(Tensor::zeros({2}), true);
  EXPECT_THROW(nn::AdamW({{{p}, 0.0}}, 1e-3, 1.0), std::invalid_argument);
  EXPECT_THROW(nn::AdamW({{{p}, 0.0}}, -1.0), std::invalid_argument);
}

TEST(ClipParamGroups, FollowsClipsNoDecayRule) {
  auto named = [](const std::string& name, const Shape& shape, bool trainable = true) {
    return std::pair<std::string, Variable>{name, Variable(Tensor::zeros(shape), trainable)};
  };
  std::vector<std::pair<std::string, Variable>> params = {
      named("visual.ln_pre.weight", {8}),
      named("visual.proj", {8, 4}),
      named("logit_scale", {}),
      named("visual.layer1.0.bn1.weight", {8}),
      named("transformer.resblocks.0.attn.in_proj_bias", {24}),
      named("transformer.resblocks.0.attn.in_proj_weight", {24, 8}),
      named("visual.conv1.weight", {8, 3, 2, 2}),
      named("ln_final.gain_matrix", {2, 2}),      // 2-D, excluded by name ("ln")
      named("visual.layer1.0.bn_table", {2, 2}),  // 2-D, excluded by name ("bn")
      named("token_embedding.weight", {16, 8}, /*trainable=*/false),
  };
  std::vector<nn::ParamGroup> groups = nn::clip_param_groups(params, 0.2);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].weight_decay, 0.0);
  EXPECT_EQ(groups[1].weight_decay, 0.2);
  auto members = [&](const nn::ParamGroup& group) {
    std::vector<std::string> names;
    for (const Variable& p : group.params)
      for (const auto& [name, candidate] : params)
        if (candidate.node() == p.node()) names.push_back(name);
    return names;
  };
  EXPECT_EQ(members(groups[0]),
            (std::vector<std::string>{"visual.ln_pre.weight", "logit_scale", "visual.layer1.0.bn1.weight",
                                      "transformer.resblocks.0.attn.in_proj_bias", "ln_final.gain_matrix",
                                      "visual.layer1.0.bn_table"}));
  EXPECT_EQ(members(groups[1]), (std::vector<std::string>{"visual.proj", "transformer.resblocks.0.attn.in_proj_weight",
                                                          "visual.conv1.weight"}));
}

TEST(WarmupCosine, WarmsUpLinearlyThenReachesZeroAtTheLastStep) {
  const double base = 1e-3;
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 0, 4, 10), 2.5e-4);
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 1, 4, 10), 5e-4);
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 3, 4, 10), 1e-3);
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 4, 4, 10), 1e-3);  // t = 0
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 6, 4, 10), 0.5 * (1 + std::cos(std::numbers::pi * 0.4)) * base);
  EXPECT_EQ(nn::warmup_cosine_lr(base, 9, 4, 10), 0.0);
}

TEST(WarmupCosine, WarmupShorterThanAnEpochDecaysMonotonically) {
  const double base = 5e-4;
  const int64_t steps_per_epoch = 10, total = 3 * steps_per_epoch, warmup = 5;
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, warmup - 1, warmup, total), base);
  double previous = base;
  for (int64_t step = warmup; step < total; ++step) {
    double lr = nn::warmup_cosine_lr(base, step, warmup, total);
    EXPECT_LE(lr, previous) << "step " << step;
    previous = lr;
  }
  EXPECT_EQ(previous, 0.0);
}

TEST(WarmupCosine, EdgeCases) {
  const double base = 1e-3;
  // No warmup: the cosine starts at once.
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 0, 0, 5), base);
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 2, 0, 5), 0.5 * base);
  EXPECT_EQ(nn::warmup_cosine_lr(base, 4, 0, 5), 0.0);
  // A single step: a one-step cosine phase keeps base_lr.
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 0, 0, 1), base);
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 0, 1, 1), base);
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 3, 3, 4), base);
  // Warmup longer than the run: all warmup.
  EXPECT_DOUBLE_EQ(nn::warmup_cosine_lr(base, 3, 10, 4), 4e-4);
  EXPECT_THROW(nn::warmup_cosine_lr(base, 5, 0, 5), std::invalid_argument);
  EXPECT_THROW(nn::warmup_cosine_lr(base, -1, 0, 5), std::invalid_argument);
  EXPECT_THROW(nn::warmup_cosine_lr(base, 0, 0, 0), std::invalid_argument);
  EXPECT_THROW(nn::warmup_cosine_lr(base, 0, -1, 5), std::invalid_argument);
}

TEST(ClipGradNorm, ScalesToTheMaximumNorm) {
  Variable a(Tensor::zeros({2}), true), b(Tensor::zeros({1, 1}), true), frozen(Tensor::zeros({3}), true);
  a.add_grad(Tensor::from_vector<float>({2}, {3, 4}));
  b.add_grad(Tensor::from_vector<float>({1, 1}, {12}));
  double norm = nn::clip_grad_norm({a, b, frozen}, 6.5);
  EXPECT_DOUBLE_EQ(norm, 13.0);
  double coefficient = 6.5 / (13.0 + 1e-6);
  std::vector<float> got_a = a.grad().to_vector<float>();
  EXPECT_FLOAT_EQ(got_a[0], float(3 * coefficient));
  EXPECT_FLOAT_EQ(got_a[1], float(4 * coefficient));
  EXPECT_FLOAT_EQ(b.grad().item(), float(12 * coefficient));
  EXPECT_FALSE(frozen.has_grad());
}

TEST(ClipGradNorm, LeavesSmallGradientsAlone) {
  Variable a(Tensor::zeros({2}), true);
  a.add_grad(Tensor::from_vector<float>({2}, {0.3f, 0.4f}));
  EXPECT_NEAR(nn::clip_grad_norm({a}, 1.0), 0.5, 1e-7);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{0.3f, 0.4f}));
  EXPECT_THROW(nn::clip_grad_norm({a}, 0.0), std::invalid_argument);
}

TEST(ClipGradNorm, ScalesASharedGradientOncePerVariable) {
  Variable a(Tensor::zeros({1}), true), b(Tensor::zeros({1}), true);
  Tensor shared = Tensor::from_vector<float>({1}, {4});
  a.add_grad(shared);
  b.add_grad(shared);  // both now hold the same storage
  double norm = nn::clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(norm, std::sqrt(32.0), 1e-6);
  EXPECT_FLOAT_EQ(a.grad().item(), float(4 / (std::sqrt(32.0) + 1e-6)));
  EXPECT_FLOAT_EQ(b.grad().item(), float(4 / (std::sqrt(32.0) + 1e-6)));
  EXPECT_EQ(shared.item(), 4.0);
}

namespace {

// Three parameters in two groups, gradients drawn per step; `b` has none at step 2.
struct RandomProblem {
  Variable a{Tensor::zeros({40, 30}), true}, b{Tensor::zeros({7}), true}, c{Tensor::zeros({3, 3}), true};
  RandomProblem() {
    Generator generator(11);
    for (Variable* p : {&a, &b, &c}) fill_normal(p->value(), 0, 1, generator);
  }
  nn::AdamW optimizer() { return nn::AdamW({{{a, c}, 0.1}, {{b}, 0.0}}, 0.01, 0.9, 0.98, 1e-6); }
  void set_gradients(int step) {
    Generator generator(100 + step);
    for (Variable* p : {&a, &b, &c}) {
      p->zero_grad();
      if (p == &b && step == 2) continue;
      Tensor grad = Tensor::empty(p->shape());
      fill_normal(grad, 0, 3, generator);
      p->add_grad(grad);
    }
  }
};

bool same_bits(const Tensor& x, const Tensor& y) {
  return x.shape() == y.shape() && x.dtype() == y.dtype() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

}  // namespace

// step() is one multi-tensor update over every parameter; its bits are those
// of one ops::adamw_update per parameter with torch's per-parameter
// coefficients (each parameter counting its own steps).
TEST(AdamW, StepHasTheBitsOfOneUpdatePerParameter) {
  RandomProblem problem;
  nn::AdamW optimizer = problem.optimizer();
  std::vector<Tensor> params, exp_avg, exp_avg_sq;
  for (Variable* p : {&problem.a, &problem.b, &problem.c}) {
    params.push_back(p->value().clone());
    exp_avg.push_back(Tensor::zeros(p->shape()));
    exp_avg_sq.push_back(Tensor::zeros(p->shape()));
  }
  const double decay[3] = {0.1, 0.0, 0.1};
  int64_t steps[3] = {0, 0, 0};
  for (int step = 1; step <= 3; ++step) {
    problem.set_gradients(step);
    int i = 0;
    for (Variable* p : {&problem.a, &problem.b, &problem.c}) {
      if (p->has_grad()) {
        const int64_t t = ++steps[i];
        const ops::AdamWCoefficients c{1.0 - 0.01 * decay[i],
                                       0.1,
                                       0.98,
                                       0.02,
                                       0.01 / (1.0 - std::pow(0.9, double(t))),
                                       std::sqrt(1.0 - std::pow(0.98, double(t))),
                                       1e-6};
        ops::adamw_update(params[i], p->grad(), exp_avg[i], exp_avg_sq[i], c);
      }
      ++i;
    }
    optimizer.step();
  }
  EXPECT_TRUE(same_bits(problem.a.value(), params[0]));
  EXPECT_TRUE(same_bits(problem.b.value(), params[1]));
  EXPECT_TRUE(same_bits(problem.c.value(), params[2]));
}

// Clipping folded into the step (clip_coefficient, then step(coefficient))
// gives clip_grad_norm-then-step's bits, whether or not it clips, and leaves
// the gradients as they were.
TEST(ClipCoefficient, FoldedIntoTheStepGivesClipGradNormsBits) {
  for (double max_norm : {5.0, 1e6}) {
    SCOPED_TRACE(max_norm);
    RandomProblem folded, separate;
    nn::AdamW folded_optimizer = folded.optimizer(), separate_optimizer = separate.optimizer();
    for (int step = 1; step <= 3; ++step) {
      folded.set_gradients(step);
      separate.set_gradients(step);
      const std::vector<Variable> folded_params{folded.a, folded.b, folded.c};
      const Tensor gradient_before = folded.a.grad().clone();
      const nn::GradClip clip = nn::clip_coefficient(folded_params, max_norm);
      const double norm = nn::clip_grad_norm({separate.a, separate.b, separate.c}, max_norm);
      EXPECT_EQ(std::sqrt(clip.total_squares.item()), norm);
      EXPECT_EQ(clip.coefficient.item() < 1.0, max_norm < 100);
      folded_optimizer.step(clip.coefficient);
      separate_optimizer.step();
      EXPECT_TRUE(same_bits(folded.a.grad(), gradient_before)) << "the gradient was changed";
    }
    EXPECT_TRUE(same_bits(folded.a.value(), separate.a.value()));
    EXPECT_TRUE(same_bits(folded.b.value(), separate.b.value()));
    EXPECT_TRUE(same_bits(folded.c.value(), separate.c.value()));
  }
}

TEST(ClipCoefficient, NoGradientsNoCoefficientAndBadNormsRefused) {
  Variable a(Tensor::zeros({2}), true);
  const nn::GradClip clip = nn::clip_coefficient({a}, 1.0);
  EXPECT_FALSE(clip.total_squares.defined());
  EXPECT_FALSE(clip.coefficient.defined());
  EXPECT_THROW(nn::clip_coefficient({a}, 0.0), std::invalid_argument);
  a.add_grad(Tensor::from_vector<float>({2}, {INFINITY, 1.0f}));
  EXPECT_EQ(nn::clip_coefficient({a}, 1.0).coefficient.item(), 1.0);  // not finite: left alone, as clip_grad_norm
}
