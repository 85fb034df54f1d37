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

// `dims` with negative entries made positive, checked to be a permutation of
// the dims of `shape`; throws naming permute, the dims and the shape.
std::vector<int64_t> normalize_permutation(const Shape& shape, const std::vector<int64_t>& dims);

// The permutation that undoes `dims`: permute(permute(x, dims), inverse) == x.
std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& dims);

}  // namespace clipgrad::ops
