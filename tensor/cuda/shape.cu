// Data movement (tensor/ops/shape.h, tensor/ops/attention.h): permute,
// concat, narrow and its backward, split_heads / merge_heads. Any dtype
// (the bytes are moved, not read as numbers).
//
// - permute: a thread per output element (grid-stride, 256-thread blocks);
//   writes coalesced, reads gathered through the input strides. Size-1 dims
//   are dropped first (they do not move data).
// - concat / narrow / narrow_backward: each is `outer` rows of contiguous
//   bytes at two pitches, one cudaMemcpy2DAsync on the compute stream.
#include "tensor/cuda/device_tensor.h"
#include "tensor/cuda/kernels.h"

#include "tensor/shape_rules.h"

namespace clipgrad::cuda_kernels {

namespace {

// ---- kernels ----

struct PermuteMap {
  int rank = 0;
  DimArray out_sizes{};
  DimArray in_strides{};  // the input stride of each output dim
};

// in [in shape] -> out [out shape], E an unsigned integer of the element's size
template <class E>
__global__ void permute_kernel(const E* in, E* out, PermuteMap map, int64_t n) {
  CLIPGRAD_GRID_STRIDE(i, n) {
    int64_t offset = 0, rest = i;
    for (int k = map.rank - 1; k >= 0; --k) {
      offset += (rest % map.out_sizes.value[k]) * map.in_strides.value[k];
      rest /= map.out_sizes.value[k];
    }
    out[i] = in[offset];
  }
}

// ---- launchers ----

int64_t product(const Shape& shape, int64_t begin, int64_t end) {
  int64_t p = 1;
  for (int64_t d = begin; d < end; ++d) p *= shape[d];
  return p;
}

// Copies `rows` blocks of `row_bytes` from src (block r at r * src_pitch) to dst (at r * dst_pitch).
void copy_rows(const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch, int64_t rows, int64_t row_bytes) {
  if (rows == 0 || row_bytes == 0) return;
  if (rows == 1) {  // a 2-d copy would also require the (unused) pitch to be below the device's maximum
    CUDA_CHECK(cudaMemcpyAsync(dst, src, row_bytes, cudaMemcpyDeviceToDevice, cuda::compute_stream()));
    return;
  }
  CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyDeviceToDevice,
                               cuda::compute_stream()));
}

template <class E>
void launch_permute(const Tensor& x, Tensor& out, const PermuteMap& map) {
  const int64_t n = x.numel();
  permute_kernel<E><<<grid_for(n), kThreads, 0, cuda::compute_stream()>>>(static_cast<const E*>(x.raw_data()),
                                                                          static_cast<E*>(out.raw_data()), map, n);
  CUDA_CHECK_LAUNCH("permute");
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) throw std::invalid_argument("concat: no tensors given");
  const Tensor& first = xs[0];
  const int64_t d = ops::normalize_dim(dim, first.dim(), "concat");
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
  Tensor out = Tensor::empty(out_shape, first.dtype(), Device::CUDA);
  const int64_t esize = static_cast<int64_t>(dtype_size(first.dtype()));
  const int64_t outer = product(out_shape, 0, d), inner = product(out_shape, d + 1, first.dim()) * esize;
  char* dst = static_cast<char*>(out.raw_data());
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    const int64_t row_bytes = x.shape()[d] * inner;
    copy_rows(x.raw_data(), row_bytes, dst + offset, out_shape[d] * inner, outer, row_bytes);
    offset += row_bytes;
  }
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const int64_t d = ops::normalize_dim(dim, x.dim(), "narrow");
  const int64_t size = x.shape()[d];
  if (start < 0 || length < 0 || start + length > size)
    throw std::out_of_range("narrow: range [" + std::to_string(start) + ", " + std::to_string(start + length) +
                            ") of dim " + std::to_string(d) + " is outside shape " + shape_str(x.shape()));
  Shape out_shape = x.shape();
  out_shape[d] = length;
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  const int64_t esize = static_cast<int64_t>(dtype_size(x.dtype()));
  const int64_t outer = product(x.shape(), 0, d), inner = product(x.shape(), d + 1, x.dim()) * esize;
  if (out.numel() > 0)
    copy_rows(static_cast<const char*>(x.raw_data()) + start * inner, size * inner, out.raw_data(), length * inner,
              outer, length * inner);
  return out;
}

Tensor narrow_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start) {
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  const int64_t d = ops::normalize_dim(dim, rank, "narrow_backward");
  Shape expected = input_shape;
  expected[d] = grad.dim() == rank ? grad.shape()[d] : -1;
  if (grad.shape() != expected || start < 0 || start + grad.shape()[d] > input_shape[d])
    throw std::invalid_argument("narrow_backward: gradient " + shape_str(grad.shape()) + " at offset " +
                                std::to_string(start) + " of dim " + std::to_string(d) + " does not fit input shape " +
                                shape_str(input_shape));
  Tensor out = Tensor::zeros(input_shape, grad.dtype(), Device::CUDA);
  const int64_t esize = static_cast<int64_t>(dtype_size(grad.dtype()));
  const int64_t outer = product(input_shape, 0, d), inner = product(input_shape, d + 1, rank) * esize;
  const int64_t length = grad.shape()[d];
  if (grad.numel() > 0)
    copy_rows(grad.raw_data(), length * inner, static_cast<char*>(out.raw_data()) + start * inner,
              input_shape[d] * inner, outer, length * inner);
  return out;
}

void check_heads_tensor(const Tensor& t, const char* op, const char* what) {
  check_floating(t, op);
  if (t.dim() != 3)
    throw std::invalid_argument(std::string(op) + ": " + what + " must be 3-d, got " + shape_str(t.shape()));
}

// x [N, L, H * hd] -> [N * H, L, hd]
Tensor split_heads(const Tensor& x, int64_t heads) {
  check_heads_tensor(x, "split_heads", "x");
  const int64_t batch = x.shape()[0], length = x.shape()[1], features = x.shape()[2];
  if (heads < 1 || features % heads != 0)
    throw std::invalid_argument("split_heads: " + str(features) + " features of x " + shape_str(x.shape()) +
                                " do not split into " + str(heads) + " heads");
  const int64_t head_dim = features / heads;
  if (heads == 1) return x;
  return permute(x.reshape({batch, length, heads, head_dim}), {0, 2, 1, 3}).reshape({batch * heads, length, head_dim});
}

// x [N * H, L, hd] -> [N, L, H * hd]
Tensor merge_heads(const Tensor& x, int64_t heads) {
  check_heads_tensor(x, "merge_heads", "x");
  const int64_t batch_heads = x.shape()[0], length = x.shape()[1], head_dim = x.shape()[2];
  if (heads < 1 || batch_heads % heads != 0)
    throw std::invalid_argument("merge_heads: leading dim of x " + shape_str(x.shape()) + " is not a multiple of " +
                                str(heads) + " heads");
  if (heads == 1) return x;
  const int64_t batch = batch_heads / heads;
  return permute(x.reshape({batch, heads, length, head_dim}), {0, 2, 1, 3}).reshape({batch, length, heads * head_dim});
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t rank = x.dim();
  const std::vector<int64_t> normalized = ops::normalize_permutation(x.shape(), dims);
  Shape out_shape(rank);
  for (int64_t i = 0; i < rank; ++i) out_shape[i] = x.shape()[normalized[i]];
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  if (x.numel() == 0) return out;
  Shape in_strides(rank, 1);
  for (int64_t d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * x.shape()[d + 1];
  PermuteMap map;
  for (int64_t i = 0; i < rank; ++i) {
    if (out_shape[i] == 1) continue;  // moves no data
    check_rank_limit(map.rank + 1, "permute");
    map.out_sizes.value[map.rank] = out_shape[i];
    map.in_strides.value[map.rank] = in_strides[normalized[i]];
    ++map.rank;
  }
  switch (dtype_size(x.dtype())) {
    case 1: launch_permute<uint8_t>(x, out, map); break;
    case 2: launch_permute<uint16_t>(x, out, map); break;
    case 4: launch_permute<uint32_t>(x, out, map); break;
    case 8: launch_permute<uint64_t>(x, out, map); break;
    default: throw std::invalid_argument(std::string("permute: unsupported dtype ") + dtype_name(x.dtype()));
  }
  return out;
}

void fill_shape_kernels(ops::Kernels& table) {
  table.permute = &permute;
  table.concat = &concat;
  table.narrow = &narrow;
  table.narrow_backward = &narrow_backward;
  table.split_heads = &split_heads;
  table.merge_heads = &merge_heads;
}

}  // namespace clipgrad::cuda_kernels
