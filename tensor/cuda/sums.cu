// Deterministic sums (no atomics): sum_to_shape, sum / mean along a dim,
// sum_all, sum_squares. Every sum accumulates in double, like the CPU's.
//
// - sum / mean along a dim, x viewed as [outer, size, inner]: one thread per
//   output (outer * inner of them), summing its `size` inputs in order, the
//   CPU kernel's order exactly (bit-identical results). Threads of a warp read
//   neighbouring `inner` positions: coalesced unless inner == 1.
// - sum_to_shape onto a trailing shape [m] (bias gradients, x [rows, m]):
//   the CPU's two levels, by the same 256-row chunks: pass 1 a thread per
//   (chunk, column) sums its chunk's rows; pass 2 a thread per column adds the
//   chunk partials in chunk order. Bit-identical with the CPU.
// - sum_to_shape, any other broadcast: a thread per output, summing the inputs
//   broadcast from it in increasing input index (the CPU's order).
// - sum_all, sum_squares(_of): pass 1 a 256-thread block per fixed chunk (the CPU's
//   chunk sizes) sums it with a fixed tree (block_sum); pass 2 one thread adds
//   the chunk sums in order. Deterministic; within a chunk the order is a
//   tree, not the CPU's sequence (last-bit differences in f64 only).
#include "tensor/cuda/device_tensor.h"
#include "tensor/cuda/kernels.h"

#include "tensor/shape_rules.h"

namespace clipgrad::cuda_kernels {

namespace {

constexpr int64_t kRowChunk = 256;          // tensor/cpu/row_sums.h's chunk
constexpr int64_t kSumAllChunk = 32768;     // tensor/cpu/reduce.cpp's sum_all chunk
constexpr int64_t kSumSquaresChunk = 1 << 14;  // tensor/cpu/optim.cpp's sum_squares chunk

// ---- kernels ----

// in [outer, size, inner] -> out [outer, inner] = factor * sum over size
template <class T>
__global__ void sum_along_kernel(const T* in, T* out, int64_t outer, int64_t size, int64_t inner, double factor) {
  CLIPGRAD_GRID_STRIDE(o, outer * inner) {
    const int64_t first = (o / inner) * size * inner + o % inner;
    double acc = 0;
    for (int64_t k = 0; k < size; ++k) acc += in[first + k * inner];
    out[o] = static_cast<T>(acc * factor);
  }
}

// in [rows, m] -> partial [chunks, m]: partial[c, j] = sum of in[r, j] over the chunk's rows
template <class T>
__global__ void column_chunk_sums_kernel(const T* in, double* partial, int64_t rows, int64_t m) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, chunk = blockIdx.y;
  if (j >= m) return;
  const int64_t end = smaller(rows, (chunk + 1) * kRowChunk);
  double acc = 0;
  for (int64_t r = chunk * kRowChunk; r < end; ++r) acc += in[r * m + j];
  partial[chunk * m + j] = acc;
}

// partial [chunks, m] -> out [m], chunks added in order
template <class T>
__global__ void column_totals_kernel(const double* partial, T* out, int64_t chunks, int64_t m) {
  CLIPGRAD_GRID_STRIDE(j, m) {
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c * m + j];
    out[j] = static_cast<T>(total);
  }
}

// The dims of an input that sum_to_shape folds into one output element.
struct FoldMap {
  int rank = 0;            // the input's rank; the output shape is right-aligned into it
  DimArray in_strides{};   // the input's element strides
  DimArray out_sizes{};    // the output's sizes, padded with leading 1s
  DimArray folded_sizes{}; // the input's size where the output has 1, else 1
};

// in [in shape] -> out [out shape]: out[o] = sum of the inputs broadcast from o, in increasing index
template <class T>
__global__ void fold_kernel(const T* in, T* out, FoldMap map, int64_t m, int64_t per_output) {
  CLIPGRAD_GRID_STRIDE(o, m) {
    int64_t base = 0, rest = o;
    for (int k = map.rank - 1; k >= 0; --k) {
      base += (rest % map.out_sizes.value[k]) * map.in_strides.value[k];
      rest /= map.out_sizes.value[k];
    }
    double acc = 0;
    for (int64_t t = 0; t < per_output; ++t) {
      int64_t offset = base, folded = t;
      for (int k = map.rank - 1; k >= 0; --k) {
        const int64_t size = map.folded_sizes.value[k];
        if (size == 1) continue;
        offset += (folded % size) * map.in_strides.value[k];
        folded /= size;
      }
      acc += in[offset];
    }
    out[o] = static_cast<T>(acc);
  }
}

// x [n] -> partial [chunks]: each block sums one chunk (of x, or of x^2)
template <bool kSquare, class T>
__global__ void chunk_sums_kernel(const T* x, int64_t n, int64_t chunk, double* partial) {
  const int64_t begin = blockIdx.x * chunk, end = smaller(n, begin + chunk);
  double acc = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double value = x[i];
    acc += kSquare ? value * value : value;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// partial [count] -> total [], added in order by one thread
template <class Out>
__global__ void ordered_total_kernel(const double* partial, int64_t count, Out* total) {
  double sum = 0;
  for (int64_t c = 0; c < count; ++c) sum += partial[c];
  *total = static_cast<Out>(sum);
}

// ---- launchers ----

using ops::Lines;
using ops::lines_along;

Tensor scaled_sum(const Tensor& x, int64_t dim, bool keepdim, bool average, const char* op) {
  const Lines lines = lines_along(x.shape(), dim, op);
  Shape out_shape = x.shape();
  if (keepdim) {
    out_shape[lines.dim] = 1;
  } else {
    out_shape.erase(out_shape.begin() + lines.dim);
  }
  const double factor = average ? 1.0 / static_cast<double>(lines.size) : 1.0;
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    const int64_t outputs = lines.outer * lines.inner;
    if (outputs == 0) return;
    sum_along_kernel<T><<<grid_for(outputs), kThreads, 0, cuda::compute_stream()>>>(
        device_data<T>(x), device_data<T>(out), lines.outer, lines.size, lines.inner, factor);
    CUDA_CHECK_LAUNCH(op);
  });
  return out;
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return scaled_sum(x, dim, keepdim, false, "sum"); }

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return scaled_sum(x, dim, keepdim, true, "mean"); }

// True when `shape` without its leading 1s is a suffix of out_shape.
bool is_trailing(const Shape& shape, const Shape& out_shape) {
  size_t first = 0;
  while (first < shape.size() && shape[first] == 1) ++first;
  const size_t length = shape.size() - first;
  if (length > out_shape.size()) return false;
  return std::equal(shape.begin() + first, shape.end(), out_shape.end() - length);
}

template <class T>
void sum_columns(const Tensor& x, Tensor& out, int64_t m) {
  const int64_t rows = x.numel() / m, chunks = (rows + kRowChunk - 1) / kRowChunk;
  Tensor partial = Tensor::empty({chunks, m}, DType::F64, Device::CUDA);
  const dim3 grid(static_cast<unsigned>((m + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
  if (chunks > 65535) throw std::invalid_argument("sum_to_shape: " + str(rows) + " rows are more than CUDA's grid takes");
  column_chunk_sums_kernel<T><<<grid, kThreads, 0, cuda::compute_stream()>>>(device_data<T>(x),
                                                                             device_data<double>(partial), rows, m);
  CUDA_CHECK_LAUNCH("sum_to_shape");
  column_totals(partial, out, "sum_to_shape");
}

template <class T>
void fold_into(const Tensor& x, Tensor& out) {
  const Shape& in_shape = x.shape();
  const Shape& shape = out.shape();
  check_rank_limit(x.dim(), "sum_to_shape");
  FoldMap map;
  map.rank = static_cast<int>(x.dim());
  const size_t offset = in_shape.size() - shape.size();
  int64_t stride = 1;
  for (size_t k = in_shape.size(); k-- > 0;) {
    const int64_t out_size = k >= offset ? shape[k - offset] : 1;
    map.in_strides.value[k] = stride;
    map.out_sizes.value[k] = out_size;
    map.folded_sizes.value[k] = out_size == 1 ? in_shape[k] : 1;
    stride *= in_shape[k];
  }
  const int64_t m = out.numel();
  fold_kernel<T><<<grid_for(m), kThreads, 0, cuda::compute_stream()>>>(device_data<T>(x), device_data<T>(out), map, m,
                                                                       x.numel() / m);
  CUDA_CHECK_LAUNCH("sum_to_shape");
}

Tensor sum_to_shape(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (shape.size() > x.shape().size() || ops::broadcast_shape(shape, x.shape()) != x.shape())
    throw std::invalid_argument("sum_to_shape: " + shape_str(x.shape()) + " is not a broadcast of " +
                                shape_str(shape));
  const int64_t n = x.numel(), m = shape_numel(shape);
  if (m == 1) return sum_all(x).reshape(shape);
  Tensor out = Tensor::zeros(shape, x.dtype(), Device::CUDA);
  if (m == 0 || n == 0) return out;
  dispatch_floating(x.dtype(), "sum_to_shape", [&]<class T>() {
    if (is_trailing(shape, x.shape())) {
      sum_columns<T>(x, out, m);
    } else {
      fold_into<T>(x, out);
    }
  });
  return out;
}

// The chunk sums of x (or x^2) into a device double [chunks].
template <bool kSquare, class T>
Tensor chunk_sums(const Tensor& x, int64_t chunk, const char* op) {
  const int64_t n = x.numel(), chunks = (n + chunk - 1) / chunk;
  Tensor partial = Tensor::empty({chunks}, DType::F64, Device::CUDA);
  if (chunks > 0) {
    if (chunks > int64_t(INT32_MAX)) throw std::invalid_argument(std::string(op) + ": tensor too large for one grid");
    chunk_sums_kernel<kSquare, T><<<static_cast<unsigned>(chunks), kThreads, 0, cuda::compute_stream()>>>(
        device_data<T>(x), n, chunk, device_data<double>(partial));
    CUDA_CHECK_LAUNCH(op);
  }
  return partial;
}

// sum_squares of each tensor into totals[i] (device f64), queued, no host read.
void sum_squares_into(const Tensor& x, double* total) {
  dispatch_floating(x.dtype(), "sum_squares", [&]<class T>() {
    Tensor partial = chunk_sums<true, T>(x, kSumSquaresChunk, "sum_squares");
    ordered_total_kernel<double><<<1, 1, 0, cuda::compute_stream()>>>(device_data<double>(partial), partial.numel(),
                                                                      total);
    CUDA_CHECK_LAUNCH("sum_squares");
  });
}

double sum_squares(const Tensor& x) {
  Tensor total = Tensor::empty({}, DType::F64, Device::CUDA);
  sum_squares_into(x, device_data<double>(total));
  return total.item();
}

// Each tensor's total into one device array, then those added in list order:
// the CPU's sum of per-tensor sums, with one host read.
double sum_squares_of(const std::vector<Tensor>& tensors) {
  const int64_t count = static_cast<int64_t>(tensors.size());
  Tensor totals = Tensor::empty({count}, DType::F64, Device::CUDA);
  for (int64_t i = 0; i < count; ++i) sum_squares_into(tensors[i], device_data<double>(totals) + i);
  Tensor total = Tensor::empty({}, DType::F64, Device::CUDA);
  ordered_total_kernel<double><<<1, 1, 0, cuda::compute_stream()>>>(device_data<double>(totals), count,
                                                                    device_data<double>(total));
  CUDA_CHECK_LAUNCH("sum_squares_of");
  return total.item();
}

}  // namespace

void column_totals(const Tensor& partial, Tensor& out, const char* op) {
  const int64_t chunks = partial.size(0), m = partial.size(1);
  if (m == 0) return;
  dispatch_floating(out.dtype(), op, [&]<class T>() {
    column_totals_kernel<T><<<grid_for(m), kThreads, 0, cuda::compute_stream()>>>(device_data<double>(partial),
                                                                                 device_data<T>(out), chunks, m);
    CUDA_CHECK_LAUNCH(op);
  });
}

Tensor sum_all(const Tensor& x) {
  Tensor out = Tensor::empty({}, x.dtype(), Device::CUDA);
  dispatch_floating(x.dtype(), "sum_all", [&]<class T>() {
    Tensor partial = chunk_sums<false, T>(x, kSumAllChunk, "sum_all");
    ordered_total_kernel<T><<<1, 1, 0, cuda::compute_stream()>>>(device_data<double>(partial), partial.numel(),
                                                                 device_data<T>(out));
    CUDA_CHECK_LAUNCH("sum_all");
  });
  return out;
}

void fill_sum_kernels(ops::Kernels& table) {
  table.sum_to_shape = &sum_to_shape;
  table.sum = &sum;
  table.mean = &mean;
  table.sum_all = &sum_all;
  table.sum_squares = &sum_squares;
  table.sum_squares_of = &sum_squares_of;
}

}  // namespace clipgrad::cuda_kernels
