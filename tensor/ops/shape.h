// Shape and indexing raw ops on any device: permute, concat, narrow (the
// shape family), and the row gathers behind embeddings and EOT pooling, each
// with the scatter-add that is its backward (the indexing family). f32 and
// f64 (permute, concat and narrow copy any dtype).
#pragma once

#include <vector>

#include "tensor/shape_rules.h"
#include "tensor/tensor.h"

namespace clipgrad::ops {

// x [s0, ..., s(n-1)] -> [s(dims[0]), ..., s(dims[n-1])]; dims is a permutation.
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);

// xs: same dtype and rank, equal sizes except along dim -> sizes summed along dim.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

// x [..., S, ...] -> [..., length, ...]: the range [start, start + length) of dim.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// grad [..., length, ...] -> zeros of input_shape [..., S, ...] with grad at [start, start + length).
Tensor narrow_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start);

// x [R, ...] -> [rows.size(), ...]: x[rows[0]], x[rows[1]], ... (a copy, any dtype);
// each row index must lie in [0, R).
Tensor index_rows(const Tensor& x, const std::vector<int64_t>& rows);

// ids i32 [...], weight [V, D] -> [..., D]; ids must lie in [0, V).
Tensor embedding(const Tensor& ids, const Tensor& weight);
// ids i32 [...], grad [..., D] -> [V, D]: row v sums the grad rows of every id equal to v.
Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab);

// tokens i32 [N, L] -> i32 [N]: where each row's end-of-text token is, on
// the tokens' device (no host read). eos_token_id < 0: the first largest id
// of the row (OpenAI's text.argmax(dim=-1): EOT is the largest id); else the
// first position holding eos_token_id, 0 in a row without one (Hugging
// Face's pooling). L >= 1.
Tensor eot_positions(const Tensor& tokens, int64_t eos_token_id);

// x [N, L, D], index i32 [N] with values in [0, L) -> [N, D]: row index[n] of x[n].
Tensor gather_rows(const Tensor& x, const Tensor& index);
// grad [N, D], index i32 [N] -> [N, L, D]: zeros with grad[n] at row index[n] of batch n.
Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length);

}  // namespace clipgrad::ops
