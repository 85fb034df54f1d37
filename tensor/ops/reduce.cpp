// The ops of tensor/ops/reduce.h: their argument checks, then dispatch.
#include "tensor/ops/reduce.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

namespace {

// logits [N, C], targets i32 [N] of class indices (read on the host).
void check_cross_entropy_args(const Tensor& logits, const Tensor& targets, const char* op) {
  if (logits.dim() != 2)
    throw std::invalid_argument(std::string(op) + ": logits must be [N, C], got " + shape_str(logits.shape()));
  if (targets.dtype() != DType::I32 || targets.shape() != Shape{logits.size(0)})
    throw std::invalid_argument(std::string(op) + ": targets must be i32 [" + std::to_string(logits.size(0)) +
                                "] for logits " + shape_str(logits.shape()) + ", got " + dtype_name(targets.dtype()) +
                                " " + shape_str(targets.shape()));
  const Tensor host = targets.to(Device::CPU);
  const int32_t* t = host.data<int32_t>();
  for (int64_t n = 0; n < host.numel(); ++n)
    if (t[n] < 0 || t[n] >= logits.size(1))
      throw std::out_of_range(std::string(op) + ": target " + std::to_string(t[n]) + " at row " + std::to_string(n) +
                              " is not a class index in [0, " + std::to_string(logits.size(1)) + ")");
}

// A layer_norm weight or bias: defined, [D] for x [..., D], x's dtype.
void check_layer_norm_param(const Tensor& x, const Tensor& param, const char* op) {
  if (x.dim() == 0) throw std::invalid_argument(std::string(op) + ": x must have a feature dim, got shape []");
  const Shape features{x.size(-1)};
  if (!param.defined() || param.shape() != features)
    throw std::invalid_argument(std::string(op) + ": weight and bias must be " + shape_str(features) + " for x " +
                                shape_str(x.shape()) + ", got " +
                                (param.defined() ? shape_str(param.shape()) : std::string("undefined")));
  check_same_dtype(x, param, op);
}

// A dim-wise op's dim, in range for x (lines_along throws naming the op and the shape otherwise).
void check_dim(const Tensor& x, int64_t dim, const char* op) { lines_along(x.shape(), dim, op); }

// A backward's grad_output and saved tensor: one shape, one dtype; dim in range.
void check_backward(const Tensor& grad_output, const Tensor& saved, int64_t dim, const char* op) {
  check_same_shape(grad_output, saved, op);
  check_same_dtype(grad_output, saved, op);
  check_dim(saved, dim, op);
}

// logits [N, N] of a floating dtype, N >= 1.
void check_square_logits(const Tensor& logits) {
  check_floating(logits, "contrastive_cross_entropy");
  if (logits.dim() != 2 || logits.size(0) != logits.size(1) || logits.size(0) == 0)
    throw std::invalid_argument("contrastive_cross_entropy: logits must be a square [N, N] matrix with N >= 1, got " +
                                shape_str(logits.shape()));
}

}  // namespace

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  check_dim(x, dim, "sum");
  return kernel<RawOp::sum>({&x})(x, dim, keepdim);
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  check_dim(x, dim, "mean");
  return kernel<RawOp::mean>({&x})(x, dim, keepdim);
}

Tensor sum_all(const Tensor& x) { return kernel<RawOp::sum_all>({&x})(x); }

Tensor softmax(const Tensor& x, int64_t dim) {
  check_dim(x, dim, "softmax");
  return kernel<RawOp::softmax>({&x})(x, dim);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_dim(x, dim, "log_softmax");
  return kernel<RawOp::log_softmax>({&x})(x, dim);
}

Tensor softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  check_backward(grad_output, y, dim, "softmax_backward");
  return kernel<RawOp::softmax_backward>({&grad_output, &y})(grad_output, y, dim);
}

Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& y, int64_t dim) {
  check_backward(grad_output, y, dim, "log_softmax_backward");
  return kernel<RawOp::log_softmax_backward>({&grad_output, &y})(grad_output, y, dim);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  check_cross_entropy_args(logits, targets, "cross_entropy");
  return kernel<RawOp::cross_entropy>({&logits, &targets})(logits, targets);
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, double grad_loss) {
  check_cross_entropy_args(logits, targets, "cross_entropy_backward");
  return kernel<RawOp::cross_entropy_backward>({&logits, &targets})(logits, targets, grad_loss);
}

ContrastiveCrossEntropy contrastive_cross_entropy(const Tensor& logits, ContrastiveDirections directions) {
  check_square_logits(logits);
  return kernel<RawOp::contrastive_cross_entropy>({&logits})(logits, directions);
}

LayerNormOutput layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  check_layer_norm_param(x, weight, "layer_norm");
  check_layer_norm_param(x, bias, "layer_norm");
  return kernel<RawOp::layer_norm>({&x, &weight, &bias})(x, weight, bias, eps);
}

LayerNormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                   const Tensor& rstd, bool need_x, bool need_weight, bool need_bias) {
  check_layer_norm_param(x, weight, "layer_norm_backward");
  check_same_shape(grad_output, x, "layer_norm_backward");
  check_same_dtype(grad_output, x, "layer_norm_backward");
  const int64_t features = x.size(-1), rows = features == 0 ? 0 : x.numel() / features;
  if (mean.shape() != Shape{rows} || rstd.shape() != Shape{rows})
    throw std::invalid_argument("layer_norm_backward: mean and rstd must be [" + std::to_string(rows) +
                                "], the ones layer_norm returned for x " + shape_str(x.shape()));
  return kernel<RawOp::layer_norm_backward>({&grad_output, &x, &weight, &mean, &rstd})(
      grad_output, x, weight, mean, rstd, need_x, need_weight, need_bias);
}

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  check_dim(x, dim, "l2_normalize");
  return kernel<RawOp::l2_normalize>({&x})(x, dim, eps);
}

Tensor l2_normalize_backward(const Tensor& grad_output, const Tensor& x, int64_t dim, double eps) {
  check_backward(grad_output, x, dim, "l2_normalize_backward");
  return kernel<RawOp::l2_normalize_backward>({&grad_output, &x})(grad_output, x, dim, eps);
}

}  // namespace clipgrad::ops
