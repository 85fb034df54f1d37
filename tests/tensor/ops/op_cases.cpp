// The table of op_cases.h: every raw op, small odd shapes, and its vjp.
#include "tests/tensor/ops/op_cases.h"

#include <cmath>

#include "tensor/ops/attention.h"
#include "tensor/ops/conv.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/linalg.h"
#include "tensor/ops/optim.h"
#include "tensor/ops/reduce.h"
#include "tensor/ops/shape.h"
#include "tensor/random.h"

namespace clipgrad::testing {

namespace {

Tensor normal(const Shape& shape, uint64_t seed, double std = 1.0) {
  Tensor t = Tensor::empty(shape, DType::F64);
  Generator generator(seed);
  fill_normal(t, 0.0, std, generator);
  return t;
}

// Values in [0.5, 2): inside the domain of log and rsqrt, away from 0 for division.
Tensor positive(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F64);
  Generator generator(seed);
  fill_uniform(t, 0.5, 2.0, generator);
  return t;
}

// Normal values at least 0.1 from 0, where relu's kink would spoil a finite difference.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  std::vector<double> values = normal(shape, seed).to_vector<double>();
  for (double& value : values) value += value < 0 ? -0.1 : 0.1;
  return Tensor::from_vector<double>(shape, values);
}

Tensor ids(const Shape& shape, int32_t bound, uint64_t seed) {
  Generator generator(seed);
  std::vector<int32_t> values(shape_numel(shape));
  for (int32_t& value : values) value = static_cast<int32_t>(generator.below(bound));
  return Tensor::from_vector<int32_t>(shape, values);
}

// A binary op with numpy broadcasting: a [2, 3, 4] with b [3, 1].
OpCase binary(std::function<Tensor(const Tensor&, const Tensor&)> op,
              std::function<Tensors(const Tensor& a, const Tensor& b, const Tensor& grad)> grads, bool positive_b) {
  OpCase c;
  c.inputs = [positive_b] {
    return Tensors{normal({2, 3, 4}, 1), positive_b ? positive({3, 1}, 2) : normal({3, 1}, 2)};
  };
  c.forward = [op](const Tensors& in) { return Tensors{op(in[0], in[1])}; };
  c.vjp = [grads](const Tensors& in, const Tensor& g) {
    const Tensors full = grads(in[0], in[1], g);
    return Tensors{ops::sum_to_shape(full[0], in[0].shape()), ops::sum_to_shape(full[1], in[1].shape())};
  };
  c.wrt = {0, 1};
  return c;
}

// A unary op on x [5, 7] with the vjp grad_input(x, y, grad).
OpCase unary(std::function<Tensor(const Tensor&)> op, std::function<Tensor(const Tensor&, const Tensor&)> grad_of,
             std::function<Tensor()> input) {
  OpCase c;
  c.inputs = [input] { return Tensors{input()}; };
  c.forward = [op](const Tensors& in) { return Tensors{op(in[0])}; };
  c.vjp = [grad_of](const Tensors& in, const Tensor& g) { return Tensors{grad_of(in[0], g)}; };
  c.wrt = {0};
  return c;
}

void add_binary_cases(std::map<RawOp, OpCase>& cases) {
  cases[RawOp::add] = binary(
      ops::add,
      [](const Tensor&, const Tensor&, const Tensor& g) {
        return Tensors{g, g};
      },
      false);
  cases[RawOp::sub] = binary(
      ops::sub,
      [](const Tensor&, const Tensor&, const Tensor& g) {
        return Tensors{g, ops::scale(g, -1.0)};
      },
      false);
  cases[RawOp::mul] = binary(
      ops::mul,
      [](const Tensor& a, const Tensor& b, const Tensor& g) {
        return Tensors{ops::mul(g, b), ops::mul(g, a)};
      },
      false);
  cases[RawOp::div] = binary(
      ops::div,
      [](const Tensor& a, const Tensor& b, const Tensor& g) {
        return Tensors{ops::div(g, b), ops::scale(ops::div(ops::mul(g, a), ops::mul(b, b)), -1.0)};
      },
      true);
}

// Conversions between every dtype (compared as stored: bf16, i32, u8 too), and
// adding a scalar to a floating tensor and to a counter.
void add_convert_and_scalar_cases(std::map<RawOp, OpCase>& cases) {
  OpCase convert;
  convert.inputs = [] { return Tensors{normal({4, 7}, 7, 40.0)}; };
  convert.forward = [](const Tensors& in) {
    const Tensor bf16 = ops::convert(in[0], DType::BF16);
    const Tensor i32 = ops::convert(in[0], DType::I32);  // truncated toward zero
    return Tensors{bf16, ops::convert(bf16, DType::F32), ops::convert(in[0], DType::F64),
                   i32,  ops::convert(i32, DType::F32),  ops::convert(ops::convert(i32, DType::U8), DType::BF16)};
  };
  convert.no_gradient = "a change of dtype; nothing differentiates through it yet";
  convert.device_tolerance = 0;  // the same convert_element on both devices
  cases[RawOp::convert] = convert;
  OpCase add_scalar;
  add_scalar.inputs = [] { return Tensors{normal({3, 4}, 8), ids({5}, 100, 9)}; };
  add_scalar.forward = [](const Tensors& in) {
    Tensor shifted = in[0].clone(), counts = in[1].clone();
    ops::add_scalar_inplace(shifted, 0.625);
    ops::add_scalar_inplace(counts, 1);
    return Tensors{shifted, counts};
  };
  add_scalar.vjp = [](const Tensors&, const Tensor& g) { return Tensors{g}; };
  add_scalar.wrt = {0};
  cases[RawOp::add_scalar_inplace] = add_scalar;
}

void add_elementwise_cases(std::map<RawOp, OpCase>& cases) {
  OpCase add_inplace;
  add_inplace.inputs = [] { return Tensors{normal({4, 6}, 3), normal({4, 6}, 4)}; };
  add_inplace.forward = [](const Tensors& in) {
    Tensor sum = in[0].clone();
    ops::add_inplace(sum, in[1]);
    return Tensors{sum};
  };
  add_inplace.vjp = [](const Tensors&, const Tensor& g) { return Tensors{g, g}; };
  add_inplace.wrt = {0, 1};
  cases[RawOp::add_inplace] = add_inplace;
  OpCase fill;
  fill.inputs = [] { return Tensors{normal({3, 5}, 6)}; };
  fill.forward = [](const Tensors& in) {
    Tensor filled = in[0].clone();
    ops::fill(filled, -0.3);
    return Tensors{filled};
  };
  fill.no_gradient = "a constant, whatever the input held";
  cases[RawOp::fill] = fill;
  cases[RawOp::scale] = unary([](const Tensor& x) { return ops::scale(x, 0.37); },
                              [](const Tensor&, const Tensor& g) { return ops::scale(g, 0.37); },
                              [] {
                                return normal({5, 7}, 5);
                              });
  cases[RawOp::broadcast_to] = unary(
      [](const Tensor& x) {
        return ops::broadcast_to(x, {2, 3, 4, 5});
      },
      [](const Tensor& x, const Tensor& g) { return ops::sum_to_shape(g, x.shape()); },
      [] {
        return normal({3, 1, 5}, 6);
      });
  cases[RawOp::sum_to_shape] = unary(
      [](const Tensor& x) {
        return ops::sum_to_shape(x, {3, 1, 5});
      },
      [](const Tensor& x, const Tensor& g) { return ops::broadcast_to(g, x.shape()); },
      [] {
        return normal({2, 3, 4, 5}, 7);
      });
  cases[RawOp::exp] = unary(
      ops::exp, [](const Tensor& x, const Tensor& g) { return ops::mul(g, ops::exp(x)); },
      [] {
        return normal({5, 7}, 8);
      });
  cases[RawOp::log] = unary(
      ops::log, [](const Tensor& x, const Tensor& g) { return ops::div(g, x); },
      [] {
        return positive({5, 7}, 9);
      });
  cases[RawOp::rsqrt] = unary(
      ops::rsqrt, [](const Tensor& x, const Tensor& g) { return ops::rsqrt_backward(g, ops::rsqrt(x)); },
      [] {
        return positive({5, 7}, 10);
      });
  cases[RawOp::relu] = unary(
      ops::relu, [](const Tensor& x, const Tensor& g) { return ops::relu_backward(g, x); },
      [] {
        return away_from_zero({5, 7}, 11);
      });
  cases[RawOp::gelu] = unary(
      ops::gelu, [](const Tensor& x, const Tensor& g) { return ops::gelu_backward(g, x); },
      [] {
        return normal({5, 7}, 12, 2.0);
      });
  cases[RawOp::quick_gelu] = unary(
      ops::quick_gelu, [](const Tensor& x, const Tensor& g) { return ops::quick_gelu_backward(g, x); },
      [] {
        return normal({5, 7}, 13, 2.0);
      });
}

void add_reduce_cases(std::map<RawOp, OpCase>& cases) {
  const Shape shape{3, 4, 5};
  cases[RawOp::sum] = unary([](const Tensor& x) { return ops::sum(x, 1); },
                            [](const Tensor& x, const Tensor& g) {
                              return ops::broadcast_to(g.reshape({3, 1, 5}), x.shape());
                            },
                            [shape] { return normal(shape, 20); });
  cases[RawOp::mean] =
      unary([](const Tensor& x) { return ops::mean(x, -1, true); },
            [](const Tensor& x, const Tensor& g) { return ops::scale(ops::broadcast_to(g, x.shape()), 0.2); },
            [shape] { return normal(shape, 21); });
  cases[RawOp::sum_all] = unary(
      ops::sum_all, [](const Tensor& x, const Tensor& g) { return ops::broadcast_to(g, x.shape()); },
      [shape] { return normal(shape, 22); });
  cases[RawOp::softmax] =
      unary([](const Tensor& x) { return ops::softmax(x, 1); },
            [](const Tensor& x, const Tensor& g) { return ops::softmax_backward(g, ops::softmax(x, 1), 1); },
            [shape] { return normal(shape, 23, 2.0); });
  cases[RawOp::log_softmax] =
      unary([](const Tensor& x) { return ops::log_softmax(x, -1); },
            [](const Tensor& x, const Tensor& g) { return ops::log_softmax_backward(g, ops::log_softmax(x, -1), -1); },
            [shape] { return normal(shape, 24, 2.0); });
  OpCase cross_entropy;
  cross_entropy.inputs = [] { return Tensors{normal({6, 9}, 25, 2.0), ids({6}, 9, 26)}; };
  cross_entropy.forward = [](const Tensors& in) { return Tensors{ops::cross_entropy(in[0], in[1])}; };
  cross_entropy.vjp = [](const Tensors& in, const Tensor& g) {
    return Tensors{ops::cross_entropy_backward(in[0], in[1], g.item())};
  };
  cross_entropy.wrt = {0};
  cases[RawOp::cross_entropy] = cross_entropy;
  OpCase contrastive;
  contrastive.inputs = [] { return Tensors{normal({7, 7}, 27, 3.0)}; };
  contrastive.forward = [](const Tensors& in) {
    return Tensors{ops::contrastive_cross_entropy(in[0], ops::ContrastiveDirections::Symmetric).loss,
                   ops::contrastive_cross_entropy(in[0], ops::ContrastiveDirections::RowsOnly).loss};
  };
  contrastive.vjp = [](const Tensors& in, const Tensor& g) {
    const Tensor grad = ops::contrastive_cross_entropy(in[0], ops::ContrastiveDirections::Symmetric).grad_logits;
    return Tensors{ops::scale(grad, g.item())};
  };
  contrastive.wrt = {0};
  cases[RawOp::contrastive_cross_entropy] = contrastive;
}

void add_norm_cases(std::map<RawOp, OpCase>& cases) {
  OpCase layer_norm;
  layer_norm.inputs = [] { return Tensors{normal({4, 3, 6}, 30, 2.0), normal({6}, 31), normal({6}, 32)}; };
  layer_norm.forward = [](const Tensors& in) {
    const ops::LayerNormOutput out = ops::layer_norm(in[0], in[1], in[2], 1e-5);
    return Tensors{out.y, out.mean, out.rstd};
  };
  layer_norm.vjp = [](const Tensors& in, const Tensor& g) {
    const ops::LayerNormOutput out = ops::layer_norm(in[0], in[1], in[2], 1e-5);
    const ops::LayerNormGrads grads = ops::layer_norm_backward(g, in[0], in[1], out.mean, out.rstd, true, true, true);
    return Tensors{grads.x, grads.weight, grads.bias};
  };
  layer_norm.wrt = {0, 1, 2};
  cases[RawOp::layer_norm] = layer_norm;
  cases[RawOp::l2_normalize] =
      unary([](const Tensor& x) { return ops::l2_normalize(x, 0, 1e-12); },
            [](const Tensor& x, const Tensor& g) { return ops::l2_normalize_backward(g, x, 0, 1e-12); },
            [] {
              return normal({5, 4}, 33);
            });
}

void add_shape_cases(std::map<RawOp, OpCase>& cases) {
  cases[RawOp::permute] = unary(
      [](const Tensor& x) {
        return ops::permute(x, {2, 0, 1});
      },
      [](const Tensor&, const Tensor& g) {
        return ops::permute(g, {1, 2, 0});
      },
      [] {
        return normal({2, 3, 4}, 40);
      });
  OpCase concat;
  concat.inputs = [] { return Tensors{normal({2, 3, 2}, 41), normal({2, 5, 2}, 42)}; };
  concat.forward = [](const Tensors& in) { return Tensors{ops::concat({in[0], in[1]}, 1)}; };
  concat.vjp = [](const Tensors&, const Tensor& g) {
    return Tensors{ops::narrow(g, 1, 0, 3), ops::narrow(g, 1, 3, 5)};
  };
  concat.wrt = {0, 1};
  cases[RawOp::concat] = concat;
  cases[RawOp::narrow] =
      unary([](const Tensor& x) { return ops::narrow(x, -1, 1, 3); },
            [](const Tensor& x, const Tensor& g) { return ops::narrow_backward(g, x.shape(), -1, 1); },
            [] {
              return normal({4, 6}, 43);
            });
  OpCase index_rows;
  index_rows.inputs = [] { return Tensors{normal({5, 3}, 44)}; };
  index_rows.forward = [](const Tensors& in) { return Tensors{ops::index_rows(in[0], {4, 0, 4, 2})}; };
  index_rows.no_gradient = "a copy of rows for assembling batches; nothing differentiates through it";
  cases[RawOp::index_rows] = index_rows;
  OpCase embedding;
  embedding.inputs = [] { return Tensors{ids({2, 5}, 7, 45), normal({7, 4}, 46)}; };
  embedding.forward = [](const Tensors& in) { return Tensors{ops::embedding(in[0], in[1])}; };
  embedding.vjp = [](const Tensors& in, const Tensor& g) { return Tensors{ops::embedding_backward(in[0], g, 7)}; };
  embedding.wrt = {1};
  cases[RawOp::embedding] = embedding;
  OpCase eot;
  eot.inputs = [] { return Tensors{ids({6, 9}, 4, 49)}; };  // ids in [0, 4): ties for the largest, rows without 3
  eot.forward = [](const Tensors& in) {
    return Tensors{ops::eot_positions(in[0], -1), ops::eot_positions(in[0], 3), ops::eot_positions(in[0], 0)};
  };
  eot.no_gradient = "integer positions of the end-of-text tokens";
  cases[RawOp::eot_positions] = eot;
  OpCase gather_rows;
  gather_rows.inputs = [] { return Tensors{normal({3, 5, 4}, 47), ids({3}, 5, 48)}; };
  gather_rows.forward = [](const Tensors& in) { return Tensors{ops::gather_rows(in[0], in[1])}; };
  gather_rows.vjp = [](const Tensors& in, const Tensor& g) { return Tensors{ops::gather_rows_backward(g, in[1], 5)}; };
  gather_rows.wrt = {0};
  cases[RawOp::gather_rows] = gather_rows;
}

void add_conv_cases(std::map<RawOp, OpCase>& cases) {
  OpCase conv2d;
  conv2d.inputs = [] { return Tensors{normal({2, 3, 7, 6}, 50), normal({4, 3, 3, 3}, 51, 0.3), normal({4}, 52)}; };
  conv2d.forward = [](const Tensors& in) { return Tensors{ops::conv2d(in[0], in[1], in[2], 2, 1)}; };
  conv2d.vjp = [](const Tensors& in, const Tensor& g) {
    const ops::Conv2dGrads grads = ops::conv2d_backward(g, in[0], in[1], 2, 1, true, true, true);
    return Tensors{grads.x, grads.weight, grads.bias};
  };
  conv2d.wrt = {0, 1, 2};
  cases[RawOp::conv2d] = conv2d;
  cases[RawOp::avg_pool2d] =
      unary([](const Tensor& x) { return ops::avg_pool2d(x, 2); },
            [](const Tensor& x, const Tensor& g) { return ops::avg_pool2d_backward(g, x.shape(), 2); },
            [] {
              return normal({2, 3, 6, 7}, 53);
            });
  // Training mode: the batch statistics carry gradient, and the running statistics are outputs too.
  OpCase batch_norm;
  batch_norm.inputs = [] {
    return Tensors{normal({3, 2, 4, 5}, 54, 2.0), normal({2}, 55), normal({2}, 56), normal({2}, 57), positive({2}, 58)};
  };
  auto run = [](const Tensors& in, ops::BatchNormSaved& saved) {
    Tensor running_mean = in[3].clone(), running_var = in[4].clone();
    Tensor y = ops::batch_norm(in[0], in[1], in[2], running_mean, running_var, true, 0.1, 1e-5, saved);
    return Tensors{y, running_mean, running_var, saved.mean, saved.invstd};
  };
  batch_norm.forward = [run](const Tensors& in) {
    ops::BatchNormSaved saved;
    return run(in, saved);
  };
  batch_norm.vjp = [run](const Tensors& in, const Tensor& g) {
    ops::BatchNormSaved saved;
    run(in, saved);
    const ops::BatchNormGrads grads = ops::batch_norm_backward(g, in[0], in[1], saved, true, true, true);
    return Tensors{grads.x, grads.weight, grads.bias};
  };
  batch_norm.wrt = {0, 1, 2};
  cases[RawOp::batch_norm] = batch_norm;
}

void add_attention_cases(std::map<RawOp, OpCase>& cases) {
  constexpr double kScale = 0.4;
  OpCase attention;
  // q [B, Lq, hd], k and v [B, Lk, hd], an additive mask [Lq, Lk].
  attention.inputs = [] {
    return Tensors{normal({3, 4, 5}, 60), normal({3, 6, 5}, 61), normal({3, 6, 5}, 62), normal({4, 6}, 63)};
  };
  attention.forward = [](const Tensors& in) {
    Tensor probs;
    Tensor out = ops::attention_heads(in[0], in[1], in[2], in[3], kScale, probs);
    return Tensors{out, probs};
  };
  attention.vjp = [](const Tensors& in, const Tensor& g) {
    Tensor probs;
    ops::attention_heads(in[0], in[1], in[2], in[3], kScale, probs);
    Tensor grad_q = Tensor::empty_like(in[0]), grad_k = Tensor::empty_like(in[1]), grad_v = Tensor::empty_like(in[2]);
    ops::attention_heads_backward(g, in[0], in[1], in[2], probs, kScale, &grad_q, &grad_k, &grad_v);
    return Tensors{grad_q, grad_k, grad_v};
  };
  attention.wrt = {0, 1, 2};
  cases[RawOp::attention_heads] = attention;
}

void add_gemm_cases(std::map<RawOp, OpCase>& cases) {
  // c [2, 3, 4] = 0.7 a [2, 3, 5] @ b [2, 4, 5]^T + 0.5 c0
  OpCase gemm;
  gemm.inputs = [] { return Tensors{normal({2, 3, 5}, 70), normal({2, 4, 5}, 71), normal({2, 3, 4}, 72)}; };
  gemm.forward = [](const Tensors& in) {
    Tensor c = in[2].clone();
    ops::gemm({.trans_b = true,
               .batch = 2,
               .m = 3,
               .n = 4,
               .k = 5,
               .stride_a = 15,
               .stride_b = 20,
               .stride_c = 12,
               .alpha = 0.7,
               .beta = 0.5},
              in[0], in[1], c);
    return Tensors{c};
  };
  gemm.vjp = [](const Tensors& in, const Tensor& g) {
    Tensor grad_a = Tensor::empty_like(in[0]), grad_b = Tensor::empty_like(in[1]);
    // grad_a = 0.7 g b, grad_b = 0.7 g^T a, grad_c0 = 0.5 g
    ops::gemm({.batch = 2, .m = 3, .n = 5, .k = 4, .stride_a = 12, .stride_b = 20, .stride_c = 15, .alpha = 0.7}, g,
              in[1], grad_a);
    ops::gemm({.trans_a = true,
               .batch = 2,
               .m = 4,
               .n = 5,
               .k = 3,
               .stride_a = 12,
               .stride_b = 15,
               .stride_c = 20,
               .alpha = 0.7},
              g, in[0], grad_b);
    return Tensors{grad_a, grad_b, ops::scale(g, 0.5)};
  };
  gemm.wrt = {0, 1, 2};
  cases[RawOp::gemm] = gemm;
  // c [3, 4] = x [3, 5] @ w [4, 5]^T + bias [4]
  OpCase gemm_bias;
  gemm_bias.inputs = [] { return Tensors{normal({3, 5}, 73), normal({4, 5}, 74), normal({4}, 75)}; };
  gemm_bias.forward = [](const Tensors& in) {
    Tensor c = Tensor::empty({3, 4}, in[0].dtype(), in[0].device());
    ops::gemm_bias({.trans_b = true, .m = 3, .n = 4, .k = 5}, in[0], in[1], in[2], c);
    return Tensors{c};
  };
  gemm_bias.vjp = [](const Tensors& in, const Tensor& g) {
    Tensor grad_x = Tensor::empty_like(in[0]), grad_w = Tensor::empty_like(in[1]);
    ops::gemm({.m = 3, .n = 5, .k = 4}, g, in[1], grad_x);
    ops::gemm({.trans_a = true, .m = 4, .n = 5, .k = 3}, g, in[0], grad_w);
    return Tensors{grad_x, grad_w, ops::sum_to_shape(g, {4})};
  };
  gemm_bias.wrt = {0, 1, 2};
  cases[RawOp::gemm_bias] = gemm_bias;
}

// Three parameters of different sizes (one empty), each with its own
// coefficients, and a gradient scale: outputs are every updated tensor.
void add_multi_tensor_optim_cases(std::map<RawOp, OpCase>& cases) {
  OpCase multi;
  multi.inputs = [] {
    Tensors in;
    const Shape shapes[3] = {{5, 3}, {0}, {2100}};  // 2100: more than one block of the CUDA kernel
    for (int p = 0; p < 3; ++p) {
      in.push_back(normal(shapes[p], 90 + 4 * p));
      in.push_back(normal(shapes[p], 91 + 4 * p));
      in.push_back(normal(shapes[p], 92 + 4 * p, 0.1).to(DType::F32));
      in.push_back(positive(shapes[p], 93 + 4 * p).to(DType::F32));
    }
    return in;
  };
  multi.forward = [](const Tensors& in) {
    std::vector<ops::AdamWParam> params;
    Tensors out;
    for (int p = 0; p < 3; ++p) {
      params.push_back({in[4 * p].clone(),
                        in[4 * p + 1],
                        ops::convert(in[4 * p + 2].clone(), DType::F32),
                        ops::convert(in[4 * p + 3].clone(), DType::F32),
                        {.decay = 1.0 - 1e-3 * p,
                         .one_minus_beta1 = 0.1,
                         .beta2 = 0.98,
                         .one_minus_beta2 = 0.02,
                         .step_size = 1e-2 * (p + 1),
                         .bias_correction2_sqrt = 0.2 + 0.1 * p,
                         .eps = 1e-6}});
      out.insert(out.end(), {params.back().param, params.back().exp_avg, params.back().exp_avg_sq});
    }
    ops::multi_tensor_adamw(params, Tensor::scalar(0.75, DType::F64, in[0].device()));
    return out;
  };
  multi.no_gradient = "an optimizer step, compared across devices after one update";
  cases[RawOp::multi_tensor_adamw] = multi;
  OpCase clip;
  clip.inputs = [] { return Tensors{positive({}, 87)}; };
  clip.forward = [](const Tensors& in) {
    const Tensor total = ops::convert(in[0], DType::F64);  // f64 in the parity run too: the op takes nothing else
    return Tensors{ops::clip_coefficient(ops::scale(total, 100.0), 1.0), ops::clip_coefficient(total, 1e6)};
  };
  clip.no_gradient = "a step of gradient clipping (a branch on the norm), compared across devices";
  cases[RawOp::clip_coefficient] = clip;
}

void add_optim_cases(std::map<RawOp, OpCase>& cases) {
  OpCase adamw;
  adamw.inputs = [] {
    return Tensors{normal({5, 3}, 80), normal({5, 3}, 81), normal({5, 3}, 82, 0.1).to(DType::F32),
                   positive({5, 3}, 83).to(DType::F32)};
  };
  adamw.forward = [](const Tensors& in) {
    Tensor param = in[0].clone(), exp_avg = ops::convert(in[2].clone(), DType::F32),
           exp_avg_sq = ops::convert(in[3].clone(), DType::F32);
    ops::adamw_update(param, in[1], exp_avg, exp_avg_sq,
                      {.decay = 0.999,
                       .one_minus_beta1 = 0.1,
                       .beta2 = 0.98,
                       .one_minus_beta2 = 0.02,
                       .step_size = 1e-2,
                       .bias_correction2_sqrt = 0.2,
                       .eps = 1e-6});
    return Tensors{param, exp_avg, exp_avg_sq};
  };
  adamw.no_gradient = "an optimizer step, compared across devices after one update";
  cases[RawOp::adamw_update] = adamw;
  OpCase sum_squares;
  sum_squares.inputs = [] { return Tensors{normal({6, 7}, 84)}; };
  sum_squares.forward = [](const Tensors& in) {
    return Tensors{Tensor::scalar(ops::sum_squares(in[0]), in[0].dtype(), in[0].device())};
  };
  sum_squares.vjp = [](const Tensors& in, const Tensor& g) { return Tensors{ops::scale(in[0], 2 * g.item())}; };
  sum_squares.wrt = {0};
  cases[RawOp::sum_squares] = sum_squares;
  OpCase sum_squares_of;
  sum_squares_of.inputs = [] { return Tensors{normal({6, 7}, 85), normal({3}, 86)}; };
  sum_squares_of.forward = [](const Tensors& in) {
    return Tensors{ops::convert(ops::sum_squares_of({in[0], in[1]}), in[0].dtype())};
  };
  sum_squares_of.vjp = [](const Tensors& in, const Tensor& g) {
    return Tensors{ops::scale(in[0], 2 * g.item()), ops::scale(in[1], 2 * g.item())};
  };
  sum_squares_of.wrt = {0, 1};
  cases[RawOp::sum_squares_of] = sum_squares_of;
  add_multi_tensor_optim_cases(cases);
}

}  // namespace

const std::map<RawOp, OpCase>& op_cases() {
  static const std::map<RawOp, OpCase> cases = [] {
    std::map<RawOp, OpCase> table;
    add_binary_cases(table);
    add_elementwise_cases(table);
    add_convert_and_scalar_cases(table);
    add_reduce_cases(table);
    add_norm_cases(table);
    add_shape_cases(table);
    add_conv_cases(table);
    add_attention_cases(table);
    add_gemm_cases(table);
    add_optim_cases(table);
    return table;
  }();
  return cases;
}

const std::map<RawOp, RawOp>& checked_in_case_of() {
  static const std::map<RawOp, RawOp> backwards = {
      {RawOp::rsqrt_backward, RawOp::rsqrt},
      {RawOp::relu_backward, RawOp::relu},
      {RawOp::gelu_backward, RawOp::gelu},
      {RawOp::quick_gelu_backward, RawOp::quick_gelu},
      {RawOp::softmax_backward, RawOp::softmax},
      {RawOp::log_softmax_backward, RawOp::log_softmax},
      {RawOp::cross_entropy_backward, RawOp::cross_entropy},
      {RawOp::layer_norm_backward, RawOp::layer_norm},
      {RawOp::l2_normalize_backward, RawOp::l2_normalize},
      {RawOp::narrow_backward, RawOp::narrow},
      {RawOp::embedding_backward, RawOp::embedding},
      {RawOp::gather_rows_backward, RawOp::gather_rows},
      {RawOp::conv2d_backward, RawOp::conv2d},
      {RawOp::avg_pool2d_backward, RawOp::avg_pool2d},
      {RawOp::batch_norm_backward, RawOp::batch_norm},
      {RawOp::attention_heads_backward, RawOp::attention_heads},
  };
  return backwards;
}

}  // namespace clipgrad::testing
