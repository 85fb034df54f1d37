// Reductions, softmax, losses and normalisations.
#include <stdexcept>
#include <string>

#include "autograd/functional.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/reduce.h"

namespace clipgrad::fn {

namespace {

// The gradient of a reduction along dim, spread back over x's shape:
// g [reduced shape] -> [x shape] (each element gets its line's gradient).
Tensor spread_along(const Tensor& g, const Shape& x_shape, int64_t dim) {
  const int64_t rank = static_cast<int64_t>(x_shape.size());
  Shape kept = x_shape;
  kept[dim < 0 ? dim + rank : dim] = 1;
  return ops::broadcast_to(g.reshape(kept), x_shape);
}

}  // namespace

// x [..., S, ...] -> [..., ...] (keepdim: [..., 1, ...])
Variable sum(const Variable& x, int64_t dim, bool keepdim) {
  return make_result(ops::sum(x.value(), dim, keepdim), {x}, [dim](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(spread_along(g, in[0].shape(), dim));
  });
}

// x [..., S, ...] -> [..., ...] (keepdim: [..., 1, ...])
Variable mean(const Variable& x, int64_t dim, bool keepdim) {
  return make_result(ops::mean(x.value(), dim, keepdim), {x}, [dim](const Tensor& g, std::vector<Variable>& in) {
    const double size = static_cast<double>(in[0].size(dim));
    in[0].add_grad(ops::scale(spread_along(g, in[0].shape(), dim), 1.0 / size));
  });
}

// x [...] -> []
Variable sum_all(const Variable& x) {
  return make_result(ops::sum_all(x.value()), {x}, [](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::broadcast_to(g, in[0].shape()));
  });
}

// x [...] -> [...]
Variable l2_normalize(const Variable& x, int64_t dim, double eps) {
  return make_result(ops::l2_normalize(x.value(), dim, eps), {x},
                     [dim, eps](const Tensor& g, std::vector<Variable>& in) {
                       in[0].add_grad(ops::l2_normalize_backward(g, in[0].value(), dim, eps));
                     });
}

// x [...] -> [...]
Variable softmax(const Variable& x, int64_t dim) {
  Tensor y = ops::softmax(x.value(), dim);
  return make_result(y, {x}, [y, dim](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::softmax_backward(g, y, dim));
  });
}

// x [...] -> [...]
Variable log_softmax(const Variable& x, int64_t dim) {
  Tensor y = ops::log_softmax(x.value(), dim);
  return make_result(y, {x}, [y, dim](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::log_softmax_backward(g, y, dim));
  });
}

// logits [N, C], targets i32 [N] -> []
Variable cross_entropy(const Variable& logits, const Tensor& targets) {
  return make_result(ops::cross_entropy(logits.value(), targets), {logits},
                     [targets](const Tensor& g, std::vector<Variable>& in) {
                       in[0].add_grad(ops::cross_entropy_backward(in[0].value(), targets, g.item()));
                     });
}

// logits [N, N] -> []. The forward already computed d loss / d logits; the
// backward only scales it by the loss's gradient g [], on g's device (a
// broadcast multiply: the bits of ops::scale by g's value, with no host read).
Variable contrastive_cross_entropy(const Variable& logits, ops::ContrastiveDirections directions) {
  ops::ContrastiveCrossEntropy out = ops::contrastive_cross_entropy(logits.value(), directions);
  return make_result(out.loss, {logits}, [grad_logits = out.grad_logits](const Tensor& g, std::vector<Variable>& in) {
    in[0].add_grad(ops::mul(grad_logits, g));
  });
}

// x [..., D], weight [D], bias [D] -> [..., D]
Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  if (!weight.defined() || !bias.defined())
    throw std::invalid_argument("layer_norm: weight and bias must both be given (for x " + shape_str(x.shape()) +
                                "); pass ones and zeros for a plain normalisation");
  ops::LayerNormOutput out = ops::layer_norm(x.value(), weight.value(), bias.value(), eps);
  return make_result(out.y, {x, weight, bias},
                     [mean = out.mean, rstd = out.rstd](const Tensor& g, std::vector<Variable>& in) {
                       ops::LayerNormGrads grads =
                           ops::layer_norm_backward(g, in[0].value(), in[1].value(), mean, rstd, in[0].requires_grad(),
                                                    in[1].requires_grad(), in[2].requires_grad());
                       if (in[0].requires_grad()) in[0].add_grad(grads.x);
                       if (in[1].requires_grad()) in[1].add_grad(grads.weight);
                       if (in[2].requires_grad()) in[2].add_grad(grads.bias);
                     });
}

}  // namespace clipgrad::fn
