// Shape and indexing ops: reshape, permute, transpose, concat, narrow,
// embedding, gather_rows. Forward and backward side by side.
#include <utility>

#include "autograd/functional.h"
#include "tensor/ops/shape.h"

namespace clipgrad::fn {

// x [...] -> shape (same numel): a view; the gradient is viewed back.
Variable reshape(const Variable& x, const Shape& shape) {
  const Shape input_shape = x.shape();
  return make_result(x.value().reshape(shape), {x}, [input_shape](const Tensor& grad, std::vector<Variable>& in) {
    in[0].add_grad(grad.reshape(input_shape));
  });
}

// x [s0, ..., s(n-1)] -> [s(dims[0]), ...]; the gradient goes through the inverse permutation.
Variable permute(const Variable& x, const std::vector<int64_t>& dims) {
  Tensor out = ops::permute(x.value(), dims);
  std::vector<int64_t> normalized(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) normalized[i] = ops::normalize_dim(dims[i], x.dim(), "permute");
  return make_result(out, {x},
                     [inverse = ops::inverse_permutation(normalized)](const Tensor& grad, std::vector<Variable>& in) {
                       in[0].add_grad(ops::permute(grad, inverse));
                     });
}

// x [..., a, ..., b, ...] -> [..., b, ..., a, ...]
Variable transpose(const Variable& x, int64_t dim0, int64_t dim1) {
  std::vector<int64_t> dims(x.dim());
  for (int64_t d = 0; d < x.dim(); ++d) dims[d] = d;
  std::swap(dims[ops::normalize_dim(dim0, x.dim(), "transpose")], dims[ops::normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, dims);
}

// xs [..., S_i, ...] -> [..., sum S_i, ...]; each input gets its slice of the gradient.
Variable concat(const std::vector<Variable>& xs, int64_t dim) {
  std::vector<Tensor> values;
  values.reserve(xs.size());
  for (const Variable& x : xs) values.push_back(x.value());
  Tensor out = ops::concat(values, dim);
  const int64_t d = ops::normalize_dim(dim, out.dim(), "concat");
  std::vector<int64_t> sizes;
  for (const Tensor& v : values) sizes.push_back(v.shape()[d]);
  return make_result(out, xs, [d, sizes](const Tensor& grad, std::vector<Variable>& in) {
    int64_t offset = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].requires_grad()) in[i].add_grad(ops::narrow(grad, d, offset, sizes[i]));
      offset += sizes[i];
    }
  });
}

// x [..., S, ...] -> [..., length, ...]; the gradient lands in zeros of x's shape.
Variable narrow(const Variable& x, int64_t dim, int64_t start, int64_t length) {
  const Shape input_shape = x.shape();
  return make_result(ops::narrow(x.value(), dim, start, length), {x},
                     [input_shape, dim, start](const Tensor& grad, std::vector<Variable>& in) {
                       in[0].add_grad(ops::narrow_backward(grad, input_shape, dim, start));
                     });
}

// ids i32 [...], weight [V, D] -> [..., D]; the gradient scatter-adds rows into a dense [V, D].
Variable embedding(const Tensor& ids, const Variable& weight) {
  Tensor out = ops::embedding(ids, weight.value());
  // The ids are copied: a caller may refill its token buffer before backward runs.
  return make_result(out, {weight},
                     [ids = ids.clone(), vocab = weight.shape()[0]](const Tensor& grad, std::vector<Variable>& in) {
                       in[0].add_grad(ops::embedding_backward(ids, grad, vocab));
                     });
}

// x [N, L, D], index i32 [N] -> [N, D]
Variable gather_rows(const Variable& x, const Tensor& index) {
  Tensor out = ops::gather_rows(x.value(), index);
  return make_result(out, {x},
                     [index = index.clone(), length = x.shape()[1]](const Tensor& grad, std::vector<Variable>& in) {
                       in[0].add_grad(ops::gather_rows_backward(grad, index, length));
                     });
}

}  // namespace clipgrad::fn
