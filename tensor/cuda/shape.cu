// The CUDA kernels of the shape family (tensor/ops/shape.h), the twin of
// tensor/cpu/shape.cpp: permute, concat, narrow and its backward. Any dtype
// (the bytes are moved, not read as numbers).
//
// - permute: a thread per output element (grid-stride, 256-thread blocks);
//   writes coalesced, reads gathered through the input strides. Size-1 dims
//   are dropped first (they do not move data).
// - concat / narrow / narrow_backward: each is `outer` rows of contiguous
//   bytes at two pitches, one cudaMemcpy2DAsync on the compute stream.
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

struct PermuteMap {
  int rank = 0;
  DimArray out_sizes{};
  DimArray in_strides{};  // the input stride of each output dim
};

// ---- kernels ----

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

// Moves the blocks of one RowCopy (tensor/shape_rules.h) from src to dst: one 2-d copy on the compute stream.
void copy_rows(const ops::RowCopy& copy, const void* src, void* dst) {
  if (copy.rows == 0 || copy.row_bytes == 0) return;
  const char* from = static_cast<const char*>(src) + copy.src_offset;
  char* to = static_cast<char*>(dst) + copy.dst_offset;
  if (copy.rows == 1) {  // a 2-d copy would also require the (unused) pitch to be below the device's maximum
    CUDA_CHECK(cudaMemcpyAsync(to, from, copy.row_bytes, cudaMemcpyDeviceToDevice, cuda::compute_stream()));
    return;
  }
  CUDA_CHECK(cudaMemcpy2DAsync(to, copy.dst_pitch, from, copy.src_pitch, copy.row_bytes, copy.rows,
                               cudaMemcpyDeviceToDevice, cuda::compute_stream()));
}

template <class E>
void launch_permute(const Tensor& x, Tensor& out, const PermuteMap& map) {
  const int64_t n = x.numel();
  launch("permute_kernel", permute_kernel<E>, {grid_for(n), kThreads}, static_cast<const E*>(x.raw_data()),
         static_cast<E*>(out.raw_data()), map, n);
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  int64_t d = 0;
  Tensor out = Tensor::empty(ops::concat_shape(xs, dim, &d), xs[0].dtype(), Device::CUDA);
  const std::vector<ops::RowCopy> copies = ops::concat_copies(xs, out.shape(), d);
  for (size_t i = 0; i < xs.size(); ++i) copy_rows(copies[i], xs[i].raw_data(), out.raw_data());
  return out;
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  int64_t d = 0;
  Tensor out = Tensor::empty(ops::narrow_shape(x.shape(), dim, start, length, &d), x.dtype(), Device::CUDA);
  if (out.numel() > 0)
    copy_rows(ops::narrow_copy(x.shape(), dtype_size(x.dtype()), d, start, length), x.raw_data(), out.raw_data());
  return out;
}

Tensor narrow_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start) {
  const int64_t d = ops::normalize_dim(dim, static_cast<int64_t>(input_shape.size()), "narrow_backward");
  Tensor out = Tensor::zeros(input_shape, grad.dtype(), Device::CUDA);
  if (grad.numel() > 0)
    copy_rows(ops::narrow_backward_copy(grad.shape(), input_shape, dtype_size(grad.dtype()), d, start), grad.raw_data(),
              out.raw_data());
  return out;
}

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

}  // namespace clipgrad::cuda
