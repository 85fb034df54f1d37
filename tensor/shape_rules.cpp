#include "tensor/shape_rules.h"

#include <algorithm>

#include <stdexcept>
#include <string>

namespace clipgrad::ops {

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b) + ": dim " +
                                  std::to_string(k) + " has sizes " + std::to_string(da) + " and " +
                                  std::to_string(db) + " (sizes must match or one be 1)");
    out[k] = da == 1 ? db : da;
  }
  return out;
}

Lines lines_along(const Shape& shape, int64_t dim, const char* op) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw std::out_of_range(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for shape " +
                            shape_str(shape));
  Lines lines;
  lines.dim = d;
  lines.size = shape[d];
  for (int64_t k = 0; k < d; ++k) lines.outer *= shape[k];
  for (int64_t k = d + 1; k < rank; ++k) lines.inner *= shape[k];
  return lines;
}

Shape concat_shape(const std::vector<Tensor>& xs, int64_t dim, int64_t* normalized) {
  if (xs.empty()) throw std::invalid_argument("concat: no tensors given");
  const Tensor& first = xs[0];
  const int64_t d = normalize_dim(dim, first.dim(), "concat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    bool compatible = xs[i].dtype() == first.dtype() && xs[i].dim() == first.dim();
    for (int64_t k = 0; compatible && k < first.dim(); ++k) compatible = k == d || xs[i].shape()[k] == first.shape()[k];
    if (!compatible)
      throw std::invalid_argument("concat along dim " + std::to_string(dim) + ": tensor " + std::to_string(i) +
                                  " has shape " + shape_str(xs[i].shape()) + " " + dtype_name(xs[i].dtype()) +
                                  ", tensor 0 has " + shape_str(first.shape()) + " " + dtype_name(first.dtype()) +
                                  "; all sizes but dim " + std::to_string(d) + " and the dtype must match");
    out_shape[d] += xs[i].shape()[d];
  }
  *normalized = d;
  return out_shape;
}

Shape narrow_shape(const Shape& shape, int64_t dim, int64_t start, int64_t length, int64_t* normalized) {
  const int64_t d = normalize_dim(dim, static_cast<int64_t>(shape.size()), "narrow");
  if (start < 0 || length < 0 || start + length > shape[d])
    throw std::out_of_range("narrow: range [" + std::to_string(start) + ", " + std::to_string(start + length) +
                            ") of dim " + std::to_string(d) + " is outside shape " + shape_str(shape));
  Shape out_shape = shape;
  out_shape[d] = length;
  *normalized = d;
  return out_shape;
}

int64_t check_narrow_backward(const Shape& grad_shape, const Shape& input_shape, int64_t dim, int64_t start) {
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  const int64_t d = normalize_dim(dim, rank, "narrow_backward");
  Shape expected = input_shape;
  expected[d] = static_cast<int64_t>(grad_shape.size()) == rank ? grad_shape[d] : -1;
  if (grad_shape != expected || start < 0 || start + grad_shape[d] > input_shape[d])
    throw std::invalid_argument("narrow_backward: gradient " + shape_str(grad_shape) + " at offset " +
                                std::to_string(start) + " of dim " + std::to_string(d) + " does not fit input shape " +
                                shape_str(input_shape));
  return d;
}

namespace {

int64_t product(const Shape& shape, int64_t begin, int64_t end) {
  int64_t p = 1;
  for (int64_t d = begin; d < end; ++d) p *= shape[d];
  return p;
}

// The dims before `dim` of shape (the rows), and the bytes of one element of dim with every dim after it.
struct Runs {
  int64_t rows, unit_bytes;
};
Runs runs_around(const Shape& shape, int64_t dim, size_t element_bytes) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  return {product(shape, 0, dim), product(shape, dim + 1, rank) * static_cast<int64_t>(element_bytes)};
}

}  // namespace

std::vector<RowCopy> concat_copies(const std::vector<Tensor>& xs, const Shape& out_shape, int64_t dim) {
  const Runs runs = runs_around(out_shape, dim, dtype_size(xs.at(0).dtype()));
  std::vector<RowCopy> copies;
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    const int64_t row_bytes = x.shape()[dim] * runs.unit_bytes;
    copies.push_back({runs.rows, row_bytes, 0, row_bytes, offset, out_shape[dim] * runs.unit_bytes});
    offset += row_bytes;
  }
  return copies;
}

RowCopy narrow_copy(const Shape& shape, size_t element_bytes, int64_t dim, int64_t start, int64_t length) {
  const Runs runs = runs_around(shape, dim, element_bytes);
  return {runs.rows, length * runs.unit_bytes, start * runs.unit_bytes, shape[dim] * runs.unit_bytes,
          0,         length * runs.unit_bytes};
}

RowCopy narrow_backward_copy(const Shape& grad_shape, const Shape& input_shape, size_t element_bytes, int64_t dim,
                             int64_t start) {
  const Runs runs = runs_around(input_shape, dim, element_bytes);
  const int64_t length = grad_shape[dim];
  return {runs.rows,
          length * runs.unit_bytes,
          0,
          length * runs.unit_bytes,
          start * runs.unit_bytes,
          input_shape[dim] * runs.unit_bytes};
}

bool is_trailing(const Shape& shape, const Shape& out_shape) {
  size_t first = 0;
  while (first < shape.size() && shape[first] == 1) ++first;
  const size_t length = shape.size() - first;
  if (length > out_shape.size()) return false;
  return std::equal(shape.begin() + first, shape.end(), out_shape.end() - length);
}

Conv2dShape conv2d_shape(const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding) {
  auto str = [](int64_t v) { return std::to_string(v); };
  check_floating(x, "conv2d");
  check_floating(weight, "conv2d");
  if (x.dim() != 4 || weight.dim() != 4 || weight.shape()[1] != x.shape()[1] || x.dtype() != weight.dtype())
    throw std::invalid_argument("conv2d: x must be [N, C, H, W] and weight [O, C, kh, kw] of the same dtype, got x " +
                                shape_str(x.shape()) + " " + dtype_name(x.dtype()) + " and weight " +
                                shape_str(weight.shape()) + " " + dtype_name(weight.dtype()));
  if (stride < 1 || padding < 0)
    throw std::invalid_argument("conv2d: stride must be >= 1 and padding >= 0, got stride " + str(stride) +
                                " padding " + str(padding));
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  Conv2dShape c{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], stride, padding, 0, 0};
  const int64_t span_h = c.height + 2 * padding - c.kernel_h, span_w = c.width + 2 * padding - c.kernel_w;
  if (span_h < 0 || span_w < 0)
    throw std::invalid_argument("conv2d: kernel " + str(c.kernel_h) + "x" + str(c.kernel_w) +
                                " does not fit the padded input of x " + shape_str(x.shape()) + " with padding " +
                                str(padding));
  c.out_h = span_h / stride + 1;
  c.out_w = span_w / stride + 1;
  return c;
}

int64_t normalize_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw std::out_of_range(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a rank-" +
                            std::to_string(rank) + " tensor");
  return d;
}

std::vector<int64_t> normalize_permutation(const Shape& shape, const std::vector<int64_t>& dims) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> normalized(dims.size());
  std::vector<bool> seen(rank, false);
  bool valid = static_cast<int64_t>(dims.size()) == rank;
  for (size_t i = 0; valid && i < dims.size(); ++i) {
    int64_t d = dims[i] < 0 ? dims[i] + rank : dims[i];
    valid = d >= 0 && d < rank && !seen[d];
    if (valid) seen[d] = true;
    normalized[i] = d;
  }
  if (!valid)
    throw std::invalid_argument("permute: dims " + shape_str(Shape(dims.begin(), dims.end())) +
                                " are not a permutation of the " + std::to_string(rank) + " dims of shape " +
                                shape_str(shape));
  return normalized;
}

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& dims) {
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[dims[i]] = static_cast<int64_t>(i);
  return inverse;
}

}  // namespace clipgrad::ops
