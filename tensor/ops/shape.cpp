// Device dispatch of the ops in tensor/ops/shape.h.
#include "tensor/ops/shape.h"

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  return kernel("permute", &Kernels::permute, {&x})(x, dims);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) { return kernel("concat", &Kernels::concat, xs)(xs, dim); }

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  return kernel("narrow", &Kernels::narrow, {&x})(x, dim, start, length);
}

Tensor narrow_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start) {
  return kernel("narrow_backward", &Kernels::narrow_backward, {&grad})(grad, input_shape, dim, start);
}

Tensor index_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  return kernel("index_rows", &Kernels::index_rows, {&x})(x, rows);
}

Tensor embedding(const Tensor& ids, const Tensor& weight) {
  return kernel("embedding", &Kernels::embedding, {&ids, &weight})(ids, weight);
}

Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab) {
  return kernel("embedding_backward", &Kernels::embedding_backward, {&ids, &grad})(ids, grad, vocab);
}

Tensor gather_rows(const Tensor& x, const Tensor& index) {
  return kernel("gather_rows", &Kernels::gather_rows, {&x, &index})(x, index);
}

Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length) {
  return kernel("gather_rows_backward", &Kernels::gather_rows_backward, {&grad, &index})(grad, index, length);
}

}  // namespace clipgrad::ops
