// Shape rules shared by every device's kernels and by autograd: pure
// functions of shapes and dims, no data.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::ops {

// The shape a and b broadcast to (numpy rules: right-aligned, each pair of
// dims equal or one of them 1); throws if they are incompatible.
Shape broadcast_shape(const Shape& a, const Shape& b);

// Normalises a possibly negative dim of a rank-`rank` tensor; throws naming `op`.
int64_t normalize_dim(int64_t dim, int64_t rank, const char* op);

// A tensor viewed as [outer, size, inner] around one dim, for the ops that
// run along it (sums, softmax, normalisation): a "line" is the `size`
// elements at o * size * inner + i + k * inner.
struct Lines {
  int64_t outer = 1, size = 1, inner = 1;
  int64_t dim = 0;  // non-negative
};
// Throws std::out_of_range naming `op`, the dim and the shape for a bad dim.
Lines lines_along(const Shape& shape, int64_t dim, const char* op);

// `dims` with negative entries made positive, checked to be a permutation of
// the dims of `shape`; throws naming permute, the dims and the shape.
std::vector<int64_t> normalize_permutation(const Shape& shape, const std::vector<int64_t>& dims);

// concat's result: `dim` normalised into *normalized, and the shape; every
// tensor's dtype and sizes but dim's must be the first's (throws naming the
// first that differs).
Shape concat_shape(const std::vector<Tensor>& xs, int64_t dim, int64_t* normalized);
// narrow's result shape: [start, start + length) of dim (normalised into
// *normalized); throws std::out_of_range when that is outside the shape.
Shape narrow_shape(const Shape& shape, int64_t dim, int64_t start, int64_t length, int64_t* normalized);
// narrow_backward: checks that a gradient of `grad_shape` fits `input_shape`
// at `start` along dim; returns the normalised dim.
int64_t check_narrow_backward(const Shape& grad_shape, const Shape& input_shape, int64_t dim, int64_t start);

// concat, narrow and narrow's backward move bytes as `rows` blocks of
// `row_bytes`: block r from src_offset + r * src_pitch of the source to
// dst_offset + r * dst_pitch of the destination (byte offsets from each
// tensor's start). The blocks are the runs of the dim in question below the
// dims before it, so every device copies them the same way.
struct RowCopy {
  int64_t rows = 0, row_bytes = 0;
  int64_t src_offset = 0, src_pitch = 0, dst_offset = 0, dst_pitch = 0;
};
// concat(xs, dim) into out_shape: one copy per input, in order (dim as concat_shape normalised it).
std::vector<RowCopy> concat_copies(const std::vector<Tensor>& xs, const Shape& out_shape, int64_t dim);
// narrow(x of `shape`, dim, start, length): x's rows [start, start + length) of dim into a fresh tensor.
RowCopy narrow_copy(const Shape& shape, size_t element_bytes, int64_t dim, int64_t start, int64_t length);
// narrow_backward: the gradient's rows into rows [start, start + grad's size) of dim of input_shape.
RowCopy narrow_backward_copy(const Shape& grad_shape, const Shape& input_shape, size_t element_bytes, int64_t dim,
                             int64_t start);

// True when `shape` without its leading 1s is a suffix of out_shape, so an
// operand of that shape repeats once per leading index of out_shape (a bias
// [D] on [N, L, D], a mask [Lq, Lk] on [N, H, Lq, Lk]).
bool is_trailing(const Shape& shape, const Shape& out_shape);

// One 2-d convolution: x [N, C, H, W], weight [O, C, kh, kw], output
// [N, O, out_h, out_w].
struct Conv2dShape {
  int64_t batch, channels, height, width, out_channels, kernel_h, kernel_w, stride, padding, out_h, out_w;
};
// Checks x and weight (4-d, f32 or f64, one dtype, the same channels),
// stride >= 1, padding >= 0 and that the kernel fits the padded input;
// throws std::invalid_argument naming conv2d.
Conv2dShape conv2d_shape(const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding);

// The permutation that undoes `dims`: permute(permute(x, dims), inverse) == x.
std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& dims);

}  // namespace clipgrad::ops
