// Row gathers and scatters (tensor/ops/shape.h): index_rows, embedding and
// its backward, gather_rows (the EOT gather) and its backward. Any dtype.
//
// Every index is checked on the host first, with the CPU kernels' messages:
// the i32 index tensors are small ([N] or [N, L]) and a device-side check
// could only report "some index was bad". Rows are moved in the widest word
// (8, 4, 2 or 1 bytes) that divides the row: a thread per word, grid-stride,
// 256-thread blocks; consecutive threads take consecutive words of a row.
//
// embedding_backward is deterministic without atomics or a device sort: the
// host (which holds the ids after the check) lists, for each distinct id,
// the positions that use it in increasing order (a counting sort); one block
// per distinct id then adds those gradient rows in that order, a thread per
// feature, in the element type: the CPU kernel's order, so the same bits.
#include "tensor/cuda/device_tensor.h"
#include "tensor/cuda/kernels.h"

#include <vector>

namespace clipgrad::cuda_kernels {

namespace {

// ---- kernels ----

// dst row r (of row_words words) = src row r * src_step + index[r]
template <class E>
__global__ void gather_kernel(const E* src, E* dst, const int32_t* index, int64_t src_step, int64_t rows,
                              int64_t row_words) {
  CLIPGRAD_GRID_STRIDE(i, rows * row_words) {
    const int64_t r = i / row_words, w = i % row_words;
    dst[i] = src[(r * src_step + index[r]) * row_words + w];
  }
}

// dst row r * dst_step + index[r] = src row r (the destination rows are distinct)
template <class E>
__global__ void scatter_kernel(const E* src, E* dst, const int32_t* index, int64_t dst_step, int64_t rows,
                               int64_t row_words) {
  CLIPGRAD_GRID_STRIDE(i, rows * row_words) {
    const int64_t r = i / row_words, w = i % row_words;
    dst[(r * dst_step + index[r]) * row_words + w] = src[i];
  }
}

// table [V, features]: block b fills row ids[b] with the sum, in order, of the
// grad rows positions[offsets[b] .. offsets[b + 1])
template <class T>
__global__ void embedding_backward_kernel(const T* grad, T* table, const int32_t* ids, const int32_t* offsets,
                                          const int32_t* positions, int64_t features) {
  const int64_t begin = offsets[blockIdx.x], end = offsets[blockIdx.x + 1];
  T* row = table + int64_t(ids[blockIdx.x]) * features;
  for (int64_t f = threadIdx.x; f < features; f += blockDim.x) {
    T acc = T(0);
    for (int64_t p = begin; p < end; ++p) acc += grad[int64_t(positions[p]) * features + f];
    row[f] = acc;
  }
}

// ---- launchers ----

// Gathers (or scatters) `rows` rows of row_bytes, in the widest word that divides a row.
void move_rows(bool scatter, const void* src, void* dst, const int32_t* index, int64_t step, int64_t rows,
               int64_t row_bytes, const char* op) {
  if (rows == 0 || row_bytes == 0) return;
  auto launch = [&]<class E>() {
    const int64_t row_words = row_bytes / int64_t(sizeof(E));
    const unsigned grid = grid_for(rows * row_words);
    if (scatter) {
      scatter_kernel<E><<<grid, kThreads, 0, cuda::compute_stream()>>>(static_cast<const E*>(src), static_cast<E*>(dst),
                                                                      index, step, rows, row_words);
    } else {
      gather_kernel<E><<<grid, kThreads, 0, cuda::compute_stream()>>>(static_cast<const E*>(src), static_cast<E*>(dst),
                                                                     index, step, rows, row_words);
    }
    CUDA_CHECK_LAUNCH(op);
  };
  if (row_bytes % 8 == 0) {
    launch.template operator()<uint64_t>();
  } else if (row_bytes % 4 == 0) {
    launch.template operator()<uint32_t>();
  } else if (row_bytes % 2 == 0) {
    launch.template operator()<uint16_t>();
  } else {
    launch.template operator()<uint8_t>();
  }
}

Tensor upload_i32(const std::vector<int32_t>& values) {
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(values.size())}, values).to(Device::CUDA);
}

Tensor index_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  if (x.dim() == 0) throw std::invalid_argument("index_rows: x must have a leading dim, got shape []");
  Shape out_shape = x.shape();
  out_shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  const int64_t count = x.shape()[0];
  std::vector<int32_t> index(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= count)
      throw std::out_of_range("index_rows: row " + std::to_string(rows[i]) + " outside shape " + shape_str(x.shape()));
    index[i] = static_cast<int32_t>(rows[i]);  // count fits: checked below
  }
  if (count > INT32_MAX) throw std::invalid_argument("index_rows: CUDA takes at most 2^31 - 1 rows, got " + str(count));
  if (rows.empty() || x.numel() == 0) return out;
  Tensor device_index = upload_i32(index);
  move_rows(false, x.raw_data(), out.raw_data(), device_data<int32_t>(device_index), 0,
            static_cast<int64_t>(rows.size()), static_cast<int64_t>(x.nbytes() / count), "index_rows");
  return out;
}

void check_index_dtype(const Tensor& t, const char* op, const char* what) {
  if (t.dtype() != DType::I32)
    throw std::invalid_argument(std::string(op) + ": " + what + " must be i32, got " + dtype_name(t.dtype()));
}

// ids [...] -> [..., D] rows of weight [V, D]
Tensor embedding(const Tensor& ids, const Tensor& weight) {
  check_index_dtype(ids, "embedding", "ids");
  if (weight.dim() != 2)
    throw std::invalid_argument("embedding: weight must be [V, D], got " + shape_str(weight.shape()));
  const int64_t vocab = weight.shape()[0], features = weight.shape()[1];
  const std::vector<int32_t> id = host_indices(ids);
  for (size_t i = 0; i < id.size(); ++i)
    if (id[i] < 0 || id[i] >= vocab)
      throw std::out_of_range("embedding: id " + std::to_string(id[i]) + " at flat position " + std::to_string(i) +
                              " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  Shape out_shape = ids.shape();
  out_shape.push_back(features);
  Tensor out = Tensor::empty(out_shape, weight.dtype(), Device::CUDA);
  move_rows(false, weight.raw_data(), out.raw_data(), device_data<int32_t>(ids), 0, ids.numel(),
            features * static_cast<int64_t>(dtype_size(weight.dtype())), "embedding");
  return out;
}

// ids [...], grad [..., D] -> [vocab, D]
Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab) {
  check_index_dtype(ids, "embedding_backward", "ids");
  Shape expected = ids.shape();
  expected.push_back(grad.dim() > 0 ? grad.shape().back() : -1);
  if (grad.shape() != expected)
    throw std::invalid_argument("embedding_backward: gradient " + shape_str(grad.shape()) + " does not match ids " +
                                shape_str(ids.shape()) + " plus a feature dim");
  const int64_t features = expected.back();
  Tensor out = Tensor::zeros({vocab, features}, grad.dtype(), Device::CUDA);
  dispatch_floating(grad.dtype(), "embedding_backward", [&]<class T>() {
    const std::vector<int32_t> id = host_indices(ids);
    if (id.empty() || features == 0) return;
    if (id.size() > INT32_MAX) throw std::invalid_argument("embedding_backward: CUDA takes at most 2^31 - 1 ids");
    // Counting sort of the positions by id (stable: positions stay in increasing order).
    for (size_t i = 0; i < id.size(); ++i)
      if (id[i] < 0 || id[i] >= vocab)  // the CPU kernel writes out of bounds here; refuse instead
        throw std::out_of_range("embedding_backward: id " + std::to_string(id[i]) + " at flat position " +
                                std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    std::vector<int64_t> count(vocab + 1, 0);
    for (int32_t value : id) ++count[value + 1];
    for (int64_t v = 0; v < vocab; ++v) count[v + 1] += count[v];  // count[v]: first slot of id v
    std::vector<int32_t> positions(id.size());
    std::vector<int64_t> next(count.begin(), count.end() - 1);
    for (size_t i = 0; i < id.size(); ++i) positions[next[id[i]]++] = static_cast<int32_t>(i);
    std::vector<int32_t> distinct, offsets{0};
    for (int64_t v = 0; v < vocab; ++v)
      if (count[v + 1] > count[v]) {
        distinct.push_back(static_cast<int32_t>(v));
        offsets.push_back(static_cast<int32_t>(count[v + 1]));
      }
    // One upload: [distinct ids | offsets | positions].
    std::vector<int32_t> plan = distinct;
    plan.insert(plan.end(), offsets.begin(), offsets.end());
    plan.insert(plan.end(), positions.begin(), positions.end());
    Tensor device_plan = upload_i32(plan);
    const int32_t* plan_ids = device_data<int32_t>(device_plan);
    embedding_backward_kernel<T><<<static_cast<unsigned>(distinct.size()), kThreads, 0, cuda::compute_stream()>>>(
        device_data<T>(grad), device_data<T>(out), plan_ids, plan_ids + distinct.size(),
        plan_ids + distinct.size() + offsets.size(), features);
    CUDA_CHECK_LAUNCH("embedding_backward");
  });
  return out;
}

void check_gather_index(const Tensor& index, int64_t batch, int64_t length, const char* op) {
  check_index_dtype(index, op, "index");
  if (index.dim() != 1 || index.shape()[0] != batch)
    throw std::invalid_argument(std::string(op) + ": index must be i32 [" + std::to_string(batch) + "], got " +
                                shape_str(index.shape()));
  const std::vector<int32_t> row = host_indices(index);
  for (int64_t n = 0; n < batch; ++n)
    if (row[n] < 0 || row[n] >= length)
      throw std::out_of_range(std::string(op) + ": index[" + std::to_string(n) + "] = " + std::to_string(row[n]) +
                              " is outside [0, " + std::to_string(length) + ")");
}

// x [N, L, D], index i32 [N] -> [N, D]: row index[n] of each sample
Tensor gather_rows(const Tensor& x, const Tensor& index) {
  if (x.dim() != 3) throw std::invalid_argument("gather_rows: x must be [N, L, D], got " + shape_str(x.shape()));
  const int64_t batch = x.shape()[0], length = x.shape()[1], features = x.shape()[2];
  check_gather_index(index, batch, length, "gather_rows");
  Tensor out = Tensor::empty({batch, features}, x.dtype(), Device::CUDA);
  move_rows(false, x.raw_data(), out.raw_data(), device_data<int32_t>(index), length, batch,
            features * static_cast<int64_t>(dtype_size(x.dtype())), "gather_rows");
  return out;
}

// grad [N, D], index i32 [N] -> [N, length, D], zero but at the gathered rows
Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length) {
  if (grad.dim() != 2)
    throw std::invalid_argument("gather_rows_backward: gradient must be [N, D], got " + shape_str(grad.shape()));
  const int64_t batch = grad.shape()[0], features = grad.shape()[1];
  check_gather_index(index, batch, length, "gather_rows_backward");
  Tensor out = Tensor::zeros({batch, length, features}, grad.dtype(), Device::CUDA);
  move_rows(true, grad.raw_data(), out.raw_data(), device_data<int32_t>(index), length, batch,
            features * static_cast<int64_t>(dtype_size(grad.dtype())), "gather_rows_backward");
  return out;
}

}  // namespace

std::vector<int32_t> host_indices(const Tensor& index) { return index.to(Device::CPU).to_vector<int32_t>(); }

void fill_indexing_kernels(ops::Kernels& table) {
  table.index_rows = &index_rows;
  table.embedding = &embedding;
  table.embedding_backward = &embedding_backward;
  table.gather_rows = &gather_rows;
  table.gather_rows_backward = &gather_rows_backward;
}

}  // namespace clipgrad::cuda_kernels
