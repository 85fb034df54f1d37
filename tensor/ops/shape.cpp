// The ops of tensor/ops/shape.h: their argument checks, then dispatch. The
// values of a CPU index tensor are checked here, with a message naming the bad
// index, before the kernel sees them. A device index tensor is checked by its
// kernel instead: reading it back here would make the host wait for the
// device at every gather, and the next read back reports a bad index with the
// same message (cuda/bad_indices.h).
#include "tensor/ops/shape.h"

#include <stdexcept>
#include <string>

#include "tensor/ops/dispatch.h"

namespace clipgrad::ops {

namespace {

std::string str(int64_t value) { return std::to_string(value); }

// An i32 index tensor's values when it is on the CPU; none (its kernel checks them) on a device.
std::vector<int32_t> index_values(const Tensor& index, const char* op, const char* what) {
  if (index.dtype() != DType::I32)
    throw std::invalid_argument(std::string(op) + ": " + what + " must be i32, got " + dtype_name(index.dtype()));
  if (index.device() != Device::CPU) return {};
  return index.to_vector<int32_t>();
}

// ids of any shape, each in [0, vocab).
void check_ids(const Tensor& ids, int64_t vocab, const char* op) {
  const std::vector<int32_t> values = index_values(ids, op, "ids");
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] < 0 || values[i] >= vocab)
      throw std::out_of_range(std::string(op) + ": id " + str(values[i]) + " at flat position " + str(int64_t(i)) +
                              " is outside the vocabulary [0, " + str(vocab) + ")");
}

// index i32 [batch], each in [0, length).
void check_gather_index(const Tensor& index, int64_t batch, int64_t length, const char* op) {
  const std::vector<int32_t> rows = index_values(index, op, "index");
  if (index.dim() != 1 || index.shape()[0] != batch)
    throw std::invalid_argument(std::string(op) + ": index must be i32 [" + str(batch) + "], got " +
                                shape_str(index.shape()));
  for (int64_t n = 0; n < static_cast<int64_t>(rows.size()); ++n)
    if (rows[n] < 0 || rows[n] >= length)
      throw std::out_of_range(std::string(op) + ": index[" + str(n) + "] = " + str(rows[n]) + " is outside [0, " +
                              str(length) + ")");
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  normalize_permutation(x.shape(), dims);
  return kernel<RawOp::permute>({&x})(x, dims);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  int64_t normalized = 0;
  concat_shape(xs, dim, &normalized);
  return kernel<RawOp::concat>(xs)(xs, dim);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  int64_t normalized = 0;
  narrow_shape(x.shape(), dim, start, length, &normalized);
  return kernel<RawOp::narrow>({&x})(x, dim, start, length);
}

Tensor narrow_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start) {
  check_narrow_backward(grad.shape(), input_shape, dim, start);
  return kernel<RawOp::narrow_backward>({&grad})(grad, input_shape, dim, start);
}

Tensor index_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  if (x.dim() == 0) throw std::invalid_argument("index_rows: x must have a leading dim, got shape []");
  for (int64_t row : rows)
    if (row < 0 || row >= x.shape()[0])
      throw std::out_of_range("index_rows: row " + str(row) + " outside shape " + shape_str(x.shape()));
  return kernel<RawOp::index_rows>({&x})(x, rows);
}

Tensor embedding(const Tensor& ids, const Tensor& weight) {
  if (weight.dim() != 2)
    throw std::invalid_argument("embedding: weight must be [V, D], got " + shape_str(weight.shape()));
  check_ids(ids, weight.shape()[0], "embedding");
  return kernel<RawOp::embedding>({&ids, &weight})(ids, weight);
}

Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab) {
  Shape expected = ids.shape();
  expected.push_back(grad.dim() > 0 ? grad.shape().back() : -1);
  if (grad.shape() != expected)
    throw std::invalid_argument("embedding_backward: gradient " + shape_str(grad.shape()) + " does not match ids " +
                                shape_str(ids.shape()) + " plus a feature dim");
  check_ids(ids, vocab, "embedding_backward");
  return kernel<RawOp::embedding_backward>({&ids, &grad})(ids, grad, vocab);
}

Tensor eot_positions(const Tensor& tokens, int64_t eos_token_id) {
  if (tokens.dtype() != DType::I32 || tokens.dim() != 2 || tokens.size(1) < 1 || eos_token_id > INT32_MAX)
    throw std::invalid_argument(
        std::string("eot_positions: tokens must be i32 [N, L] with L >= 1 and the eos id an i32, got ") +
        dtype_name(tokens.dtype()) + " " + shape_str(tokens.shape()) + " and eos id " + str(eos_token_id));
  return kernel<RawOp::eot_positions>({&tokens})(tokens, eos_token_id);
}

Tensor gather_rows(const Tensor& x, const Tensor& index) {
  if (x.dim() != 3) throw std::invalid_argument("gather_rows: x must be [N, L, D], got " + shape_str(x.shape()));
  check_gather_index(index, x.shape()[0], x.shape()[1], "gather_rows");
  return kernel<RawOp::gather_rows>({&x, &index})(x, index);
}

Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length) {
  if (grad.dim() != 2)
    throw std::invalid_argument("gather_rows_backward: gradient must be [N, D], got " + shape_str(grad.shape()));
  check_gather_index(index, grad.shape()[0], length, "gather_rows_backward");
  return kernel<RawOp::gather_rows_backward>({&grad, &index})(grad, index, length);
}

}  // namespace clipgrad::ops
