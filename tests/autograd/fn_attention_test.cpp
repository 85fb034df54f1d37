// Attention ops: forward against naive loops, gradcheck with and without a
// causal mask, Lq != Lk, one and two heads, multi-head self-attention, and
// f32-vs-f64.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autograd/functional.h"
#include "gradcheck.h"
#include "precision_check.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

using namespace clipgrad;
using clipgrad::testing::expect_f32_matches_f64;
using clipgrad::testing::expect_gradcheck;
using clipgrad::testing::random_f64;
using clipgrad::testing::relative_error;

namespace {

Tensor causal_mask(int64_t length) {
  Tensor mask = Tensor::zeros({length, length}, DType::F64);
  for (int64_t i = 0; i < length; ++i)
    for (int64_t j = i + 1; j < length; ++j)
      mask.data<double>()[i * length + j] = -std::numeric_limits<double>::infinity();
  return mask;
}

// softmax(q k^T / sqrt(hd) + mask) v for each batch entry and head, one element at a time.
Tensor naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const Tensor& mask) {
  const int64_t N = q.size(0), Lq = q.size(1), D = q.size(2), Lk = k.size(1), hd = D / heads;
  Tensor out = Tensor::zeros({N, Lq, D}, DType::F64);
  auto at = [D](const Tensor& t, int64_t n, int64_t l, int64_t f) {
    return t.data<double>()[(n * t.size(1) + l) * D + f];
  };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        std::vector<double> p(Lk);
        double max = -std::numeric_limits<double>::infinity(), total = 0;
        for (int64_t j = 0; j < Lk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) dot += at(q, n, i, h * hd + d) * at(k, n, j, h * hd + d);
          p[j] = dot / std::sqrt(double(hd)) + (mask.defined() ? mask.data<double>()[i * Lk + j] : 0.0);
          max = std::max(max, p[j]);
        }
        for (double& e : p) total += (e = std::exp(e - max));
        for (int64_t d = 0; d < hd; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Lk; ++j) acc += p[j] / total * at(v, n, j, h * hd + d);
          out.data<double>()[(n * Lq + i) * D + h * hd + d] = acc;
        }
      }
  return out;
}

// x [R, in] @ w^T + b -> [R, out]
Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / in;
  Shape shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape, DType::F64);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b.data<double>()[o];
      for (int64_t i = 0; i < in; ++i) acc += x.data<double>()[r * in + i] * w.data<double>()[o * in + i];
      y.data<double>()[r * out + o] = acc;
    }
  return y;
}

struct AttentionCase {
  int64_t N, Lq, Lk, D, heads;
  bool causal;
};

std::vector<AttentionCase> attention_cases() {
  return {{2, 4, 4, 6, 1, false}, {2, 4, 4, 6, 2, false}, {2, 4, 4, 6, 1, true}, {2, 4, 4, 6, 2, true},
          {2, 1, 5, 4, 1, false}, {3, 1, 5, 4, 2, false}, {1, 3, 5, 6, 3, false}};
}

std::string describe(const AttentionCase& c) {
  return "N " + std::to_string(c.N) + " Lq " + std::to_string(c.Lq) + " Lk " + std::to_string(c.Lk) + " D " +
         std::to_string(c.D) + " heads " + std::to_string(c.heads) + (c.causal ? " causal" : "");
}

}  // namespace

TEST(FnAttention, ForwardMatchesNaiveLoops) {
  for (const AttentionCase& c : attention_cases()) {
    Tensor q = random_f64({c.N, c.Lq, c.D}, 1), k = random_f64({c.N, c.Lk, c.D}, 2),
           v = random_f64({c.N, c.Lk, c.D}, 3);
    Tensor mask = c.causal ? causal_mask(c.Lq) : Tensor();
    Tensor got = fn::attention(Variable(q), Variable(k), Variable(v), c.heads, mask).value();
    EXPECT_LE(relative_error(got, naive_attention(q, k, v, c.heads, mask)), 1e-12) << describe(c);
  }
}

TEST(FnAttention, Gradcheck) {
  for (const AttentionCase& c : attention_cases()) {
    SCOPED_TRACE(describe(c));
    Tensor mask = c.causal ? causal_mask(c.Lq) : Tensor();
    expect_gradcheck(
        [&](const std::vector<Variable>& v) { return fn::attention(v[0], v[1], v[2], c.heads, mask); },
        {random_f64({c.N, c.Lq, c.D}, 4), random_f64({c.N, c.Lk, c.D}, 5), random_f64({c.N, c.Lk, c.D}, 6)});
  }
}

TEST(FnAttention, GradcheckWithSomeInputsConstant) {
  auto f = [](const std::vector<Variable>& v) { return fn::attention(v[0], v[1], v[2], 2, causal_mask(3)); };
  const std::vector<Tensor> inputs{random_f64({2, 3, 4}, 1), random_f64({2, 3, 4}, 2), random_f64({2, 3, 4}, 3)};
  expect_gradcheck(f, inputs, {false, false, true});
  expect_gradcheck(f, inputs, {true, false, false});
  expect_gradcheck(f, inputs, {false, true, false});
}

TEST(FnAttention, AdditiveMaskShiftsScores) {
  // A finite mask acts like a bias on the scores: a large negative entry all but removes that key.
  Tensor q = random_f64({1, 2, 4}, 1), k = random_f64({1, 3, 4}, 2), v = random_f64({1, 3, 4}, 3);
  Tensor mask = Tensor::from_vector<double>({2, 3}, {0.5, -1.0, 0.0, 2.0, 0.0, -0.25});
  Tensor got = fn::attention(Variable(q), Variable(k), Variable(v), 2, mask).value();
  EXPECT_LE(relative_error(got, naive_attention(q, k, v, 2, mask)), 1e-12);
  expect_gradcheck([&](const std::vector<Variable>& in) { return fn::attention(in[0], in[1], in[2], 1, mask); },
                   {q, k, v});
}

TEST(FnAttention, RejectsBadShapesAndFullyMaskedRows) {
  Variable q(random_f64({2, 3, 4}, 1)), k(random_f64({2, 3, 4}, 2)), v(random_f64({2, 3, 4}, 3));
  EXPECT_THROW(fn::attention(q, k, v, 3), std::invalid_argument);  // 4 features, 3 heads
  EXPECT_THROW(fn::attention(q, k, Variable(random_f64({2, 2, 4}, 4)), 1), std::invalid_argument);
  EXPECT_THROW(fn::attention(q, k, v, 1, causal_mask(2)), std::invalid_argument);  // wrong mask shape
  Tensor blocked = Tensor::zeros({3, 3}, DType::F64);
  for (int64_t j = 0; j < 3; ++j) blocked.data<double>()[3 + j] = -std::numeric_limits<double>::infinity();
  EXPECT_THROW(fn::attention(q, k, v, 1, blocked), std::invalid_argument);
}

TEST(FnMultiHeadAttention, ForwardMatchesNaiveComposition) {
  const int64_t N = 2, L = 5, D = 6, heads = 2;
  Tensor x = random_f64({N, L, D}, 1), in_w = random_f64({3 * D, D}, 2, 0.5), in_b = random_f64({3 * D}, 3);
  Tensor out_w = random_f64({D, D}, 4, 0.5), out_b = random_f64({D}, 5);
  for (bool causal : {false, true}) {
    Tensor mask = causal ? causal_mask(L) : Tensor();
    Tensor qkv = naive_linear(x, in_w, in_b);  // [N, L, 3D]
    Tensor q = Tensor::empty({N, L, D}, DType::F64), k = q.clone(), v = q.clone();
    for (int64_t r = 0; r < N * L; ++r)
      for (int64_t f = 0; f < D; ++f) {
        q.data<double>()[r * D + f] = qkv.data<double>()[r * 3 * D + f];
        k.data<double>()[r * D + f] = qkv.data<double>()[r * 3 * D + D + f];
        v.data<double>()[r * D + f] = qkv.data<double>()[r * 3 * D + 2 * D + f];
      }
    Tensor expected = naive_linear(naive_attention(q, k, v, heads, mask), out_w, out_b);
    Tensor got = fn::multi_head_attention(Variable(x), Variable(in_w), Variable(in_b), Variable(out_w), Variable(out_b),
                                          heads, mask)
                     .value();
    EXPECT_LE(relative_error(got, expected), 1e-12) << (causal ? "causal" : "unmasked");
  }
}

TEST(FnMultiHeadAttention, Gradcheck) {
  const int64_t N = 2, L = 4, D = 4;
  for (int64_t heads : {1, 2}) {
    SCOPED_TRACE("heads " + std::to_string(heads));
    Tensor mask = heads == 2 ? causal_mask(L) : Tensor();
    expect_gradcheck(
        [&](const std::vector<Variable>& v) {
          return fn::multi_head_attention(v[0], v[1], v[2], v[3], v[4], heads, mask);
        },
        {random_f64({N, L, D}, 1), random_f64({3 * D, D}, 2, 0.5), random_f64({3 * D}, 3), random_f64({D, D}, 4, 0.5),
         random_f64({D}, 5)});
  }
}

TEST(FnAttention, F32MatchesF64) {
  expect_f32_matches_f64(
      [](const std::vector<Variable>& v) { return fn::attention(v[0], v[1], v[2], 2, causal_mask(6)); },
      {random_f64({3, 6, 8}, 1), random_f64({3, 6, 8}, 2), random_f64({3, 6, 8}, 3)});
  expect_f32_matches_f64([](const std::vector<Variable>& v) { return fn::attention(v[0], v[1], v[2], 4, Tensor()); },
                         {random_f64({2, 1, 8}, 4), random_f64({2, 7, 8}, 5), random_f64({2, 7, 8}, 6)});
  expect_f32_matches_f64(
      [](const std::vector<Variable>& v) {
        return fn::multi_head_attention(v[0], v[1], v[2], v[3], v[4], 2, causal_mask(5));
      },
      {random_f64({2, 5, 8}, 7), random_f64({24, 8}, 8, 0.3), random_f64({24}, 9), random_f64({8, 8}, 10, 0.3),
       random_f64({8}, 11)});
}

// Self-attention's backward on CUDA (a GPU, or the emulator): every gradient
// lands on the device and matches the CPU's. The packed q|k|v path once made
// its gradient buffer on the host and had the kernels write through it.
TEST(FnMultiHeadAttention, CudaGradientsMatchTheCpu) {
#ifndef CLIPGRAD_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  const int64_t N = 2, L = 5, D = 8, heads = 2;
  const std::vector<Tensor> inputs = {random_f64({N, L, D}, 1), random_f64({3 * D, D}, 2, 0.5), random_f64({3 * D}, 3),
                                      random_f64({D, D}, 4, 0.5), random_f64({D}, 5)};
  const Tensor seed = random_f64({N, L, D}, 6).to(DType::F32);
  auto gradients_on = [&](Device device) {
    std::vector<Variable> v;
    for (const Tensor& input : inputs) v.emplace_back(input.to(DType::F32).to(device), true);
    fn::multi_head_attention(v[0], v[1], v[2], v[3], v[4], heads, causal_mask(L).to(DType::F32).to(device))
        .backward(seed.to(device));
    std::vector<Tensor> grads;
    for (const Variable& variable : v) {
      EXPECT_EQ(variable.grad().device(), device);
      grads.push_back(variable.grad().to(Device::CPU).to(DType::F64));
    }
    return grads;
  };
  const std::vector<Tensor> cpu = gradients_on(Device::CPU), gpu = gradients_on(Device::CUDA);
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_LE(relative_error(gpu[i], cpu[i]), 1e-5) << "input " << i;
#endif
}
