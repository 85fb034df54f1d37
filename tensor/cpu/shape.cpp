// The CPU kernels of the shape family (tensor/ops/shape.h): permute (a tiled
// transpose of the collapsed permutation), concat and narrow (row copies),
// and narrow's backward. Any dtype: they move bytes. The CUDA twin is
// tensor/cuda/shape.cu.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

constexpr int64_t kTile = 32;  // the square block of a 2-d transpose: 32 x 32 x 4 bytes stays in L1

// A permutation reduced to its essentials: size-1 dims dropped (they do not
// move data) and runs of input dims that stay adjacent in the output merged,
// so [N,L,H,hd] -> [N,H,L,hd] keeps hd as one contiguous run and a batched
// transpose becomes a 3-d [B, M, K] -> [B, K, M].
struct Collapsed {
  Shape sizes;                // input sizes after merging
  std::vector<int64_t> perm;  // output dim i reads merged input dim perm[i]
};

Collapsed collapse(const Shape& shape, const std::vector<int64_t>& dims) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> kept_index(rank, -1);
  Shape kept_sizes;
  for (int64_t d = 0; d < rank; ++d)
    if (shape[d] != 1) {
      kept_index[d] = static_cast<int64_t>(kept_sizes.size());
      kept_sizes.push_back(shape[d]);
    }
  std::vector<int64_t> kept_perm;
  for (int64_t i = 0; i < rank; ++i)
    if (kept_index[dims[i]] >= 0) kept_perm.push_back(kept_index[dims[i]]);

  // Runs in output order whose input dims are consecutive.
  std::vector<std::pair<int64_t, int64_t>> runs;  // [first, last] input dim
  for (size_t i = 0; i < kept_perm.size(); ++i) {
    if (i > 0 && kept_perm[i] == runs.back().second + 1)
      runs.back().second = kept_perm[i];
    else
      runs.push_back({kept_perm[i], kept_perm[i]});
  }
  std::vector<int64_t> by_first(runs.size());
  std::iota(by_first.begin(), by_first.end(), 0);
  std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return runs[a].first < runs[b].first; });
  Collapsed result;
  result.perm.assign(runs.size(), 0);
  for (size_t rank_in = 0; rank_in < by_first.size(); ++rank_in) {
    const auto& run = runs[by_first[rank_in]];
    int64_t size = 1;
    for (int64_t d = run.first; d <= run.second; ++d) size *= kept_sizes[d];
    result.sizes.push_back(size);
    result.perm[by_first[rank_in]] = static_cast<int64_t>(rank_in);
  }
  return result;
}

// Output dims walked by an outer loop: size, input stride, output stride.
struct OuterDims {
  std::vector<int64_t> sizes, in_strides, out_strides;
  // Offsets of the outer index `linear` (row-major over sizes).
  void offsets(int64_t linear, int64_t& in_offset, int64_t& out_offset) const {
    in_offset = out_offset = 0;
    for (int64_t i = static_cast<int64_t>(sizes.size()) - 1; i >= 0; --i) {
      int64_t index = linear % sizes[i];
      linear /= sizes[i];
      in_offset += index * in_strides[i];
      out_offset += index * out_strides[i];
    }
  }
};

template <class E>  // E: an unsigned integer of the element's size; permute only moves bits
void permute_kernel(const E* in, E* out, const Collapsed& c, int64_t numel) {
  const int64_t m = static_cast<int64_t>(c.sizes.size());
  if (m == 0) {
    if (numel > 0) out[0] = in[0];
    return;
  }
  Shape in_strides(m, 1), out_sizes(m), out_strides(m, 1);
  for (int64_t d = m - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * c.sizes[d + 1];
  for (int64_t i = 0; i < m; ++i) out_sizes[i] = c.sizes[c.perm[i]];
  for (int64_t i = m - 2; i >= 0; --i) out_strides[i] = out_strides[i + 1] * out_sizes[i + 1];
  const bool parallel = numel * static_cast<int64_t>(sizeof(E)) > kParallelBytes;

  if (c.perm[m - 1] == m - 1) {
    // The innermost run stays innermost: copy it whole (the head split/merge case).
    const int64_t inner = c.sizes[m - 1];
    OuterDims outer;
    for (int64_t i = 0; i < m - 1; ++i) {
      outer.sizes.push_back(out_sizes[i]);
      outer.in_strides.push_back(in_strides[c.perm[i]]);
      outer.out_strides.push_back(out_strides[i]);
    }
    const int64_t rows = numel / inner;
#pragma omp parallel for if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t in_offset, out_offset;
      outer.offsets(r, in_offset, out_offset);
      std::memcpy(out + out_offset, in + in_offset, inner * sizeof(E));
    }
    return;
  }

  // The input's contiguous dim lands at output position j, the output's
  // contiguous dim reads input dim perm[m-1] with a stride: a tiled 2-d
  // transpose between those two, repeated over the remaining dims.
  const int64_t j = std::find(c.perm.begin(), c.perm.end(), m - 1) - c.perm.begin();
  const int64_t a_size = out_sizes[j], a_out_stride = out_strides[j];
  const int64_t b_size = out_sizes[m - 1], b_in_stride = in_strides[c.perm[m - 1]];
  OuterDims outer;
  for (int64_t i = 0; i < m - 1; ++i) {
    if (i == j) continue;
    outer.sizes.push_back(out_sizes[i]);
    outer.in_strides.push_back(in_strides[c.perm[i]]);
    outer.out_strides.push_back(out_strides[i]);
  }
  const int64_t a_tiles = (a_size + kTile - 1) / kTile, b_tiles = (b_size + kTile - 1) / kTile;
  const int64_t tasks = numel / (a_size * b_size) * a_tiles * b_tiles;
#pragma omp parallel for if (parallel)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t b_tile = task % b_tiles, a_tile = task / b_tiles % a_tiles, outer_index = task / b_tiles / a_tiles;
    int64_t in_offset, out_offset;
    outer.offsets(outer_index, in_offset, out_offset);
    const int64_t a_end = std::min(a_size, (a_tile + 1) * kTile), b_end = std::min(b_size, (b_tile + 1) * kTile);
    for (int64_t a = a_tile * kTile; a < a_end; ++a) {
      const E* src = in + in_offset + a;
      E* dst = out + out_offset + a * a_out_stride;
      for (int64_t b = b_tile * kTile; b < b_end; ++b) dst[b] = src[b * b_in_stride];
    }
  }
}

// Moves the blocks of one RowCopy (tensor/shape_rules.h) from src to dst.
void copy_rows(const ops::RowCopy& copy, const void* src, void* dst) {
  const char* from = static_cast<const char*>(src) + copy.src_offset;
  char* to = static_cast<char*>(dst) + copy.dst_offset;
#pragma omp parallel for if (copy.rows * copy.row_bytes > kParallelBytes && copy.rows > 1)
  for (int64_t r = 0; r < copy.rows; ++r)
    std::memcpy(to + r * copy.dst_pitch, from + r * copy.src_pitch, copy.row_bytes);
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t rank = x.dim();
  const std::vector<int64_t> normalized = ops::normalize_permutation(x.shape(), dims);
  Shape out_shape(rank);
  for (int64_t i = 0; i < rank; ++i) out_shape[i] = x.shape()[normalized[i]];
  Tensor out = Tensor::empty(out_shape, x.dtype());
  if (x.numel() == 0) return out;
  Collapsed c = collapse(x.shape(), normalized);
  switch (dtype_size(x.dtype())) {
    case 1:
      permute_kernel(static_cast<const uint8_t*>(x.raw_data()), static_cast<uint8_t*>(out.raw_data()), c, x.numel());
      break;
    case 4:
      permute_kernel(static_cast<const uint32_t*>(x.raw_data()), static_cast<uint32_t*>(out.raw_data()), c, x.numel());
      break;
    case 8:
      permute_kernel(static_cast<const uint64_t*>(x.raw_data()), static_cast<uint64_t*>(out.raw_data()), c, x.numel());
      break;
    default: throw std::invalid_argument(std::string("permute: unsupported dtype ") + dtype_name(x.dtype()));
  }
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  int64_t d = 0;
  Tensor out = Tensor::empty(ops::concat_shape(xs, dim, &d), xs[0].dtype());
  const std::vector<ops::RowCopy> copies = ops::concat_copies(xs, out.shape(), d);
  for (size_t i = 0; i < xs.size(); ++i)
    if (copies[i].row_bytes > 0) copy_rows(copies[i], xs[i].raw_data(), out.raw_data());
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  int64_t d = 0;
  Tensor out = Tensor::empty(ops::narrow_shape(x.shape(), dim, start, length, &d), x.dtype());
  if (out.numel() > 0)
    copy_rows(ops::narrow_copy(x.shape(), dtype_size(x.dtype()), d, start, length), x.raw_data(), out.raw_data());
  return out;
}

Tensor narrow_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start) {
  const int64_t d = normalize_dim(dim, static_cast<int64_t>(input_shape.size()), "narrow_backward");
  Tensor out = Tensor::zeros(input_shape, grad.dtype());
  if (grad.numel() > 0)
    copy_rows(ops::narrow_backward_copy(grad.shape(), input_shape, dtype_size(grad.dtype()), d, start), grad.raw_data(),
              out.raw_data());
  return out;
}

}  // namespace clipgrad::cpu
