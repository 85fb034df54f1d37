// The CUDA kernels of the indexing family (tensor/ops/shape.h), the twin of
// tensor/cpu/indexing.cpp: index_rows, embedding and its backward,
// gather_rows (the EOT gather) and its backward. Any dtype.
//
// Every index was checked on the host before dispatch (tensor/ops/shape.cpp):
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

#include <vector>

namespace clipgrad::cuda {

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

// tokens i32 [N, L] -> positions i32 [N], a thread per row (L <= 77 in CLIP)
__global__ void eot_positions_kernel(const int32_t* tokens, int32_t* positions, int64_t batch, int64_t length,
                                     int64_t eos_token_id) {
  CLIPGRAD_GRID_STRIDE(n, batch) {
    const int32_t* row = tokens + n * length;
    int32_t found = 0;
    if (eos_token_id < 0) {
      for (int64_t i = 1; i < length; ++i)
        if (row[i] > row[found]) found = static_cast<int32_t>(i);
    } else {
      for (int64_t i = length - 1; i >= 0; --i)
        if (row[i] == eos_token_id) found = static_cast<int32_t>(i);
    }
    positions[n] = found;
  }
}

// ---- launchers ----

// Gathers (or scatters) `rows` rows of row_bytes, in the widest word that divides a row.
void move_rows(bool scatter, const void* src, void* dst, const int32_t* index, int64_t step, int64_t rows,
               int64_t row_bytes) {
  if (rows == 0 || row_bytes == 0) return;
  auto move = [&]<class E>() {
    const int64_t row_words = row_bytes / int64_t(sizeof(E));
    const unsigned grid = grid_for(rows * row_words);
    if (scatter) {
      launch("scatter_kernel", scatter_kernel<E>, {grid, kThreads}, static_cast<const E*>(src), static_cast<E*>(dst),
             index, step, rows, row_words);
    } else {
      launch("gather_kernel", gather_kernel<E>, {grid, kThreads}, static_cast<const E*>(src), static_cast<E*>(dst),
             index, step, rows, row_words);
    }
  };
  if (row_bytes % 8 == 0) {
    move.template operator()<uint64_t>();
  } else if (row_bytes % 4 == 0) {
    move.template operator()<uint32_t>();
  } else if (row_bytes % 2 == 0) {
    move.template operator()<uint16_t>();
  } else {
    move.template operator()<uint8_t>();
  }
}

Tensor upload_i32(const std::vector<int32_t>& values) {
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(values.size())}, values).to(Device::CUDA);
}

}  // namespace

Tensor index_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  Shape out_shape = x.shape();
  out_shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(out_shape, x.dtype(), Device::CUDA);
  const int64_t count = x.shape()[0];
  std::vector<int32_t> index(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) index[i] = static_cast<int32_t>(rows[i]);  // count fits: checked below
  if (count > INT32_MAX) throw std::invalid_argument("index_rows: CUDA takes at most 2^31 - 1 rows, got " + str(count));
  if (rows.empty() || x.numel() == 0) return out;
  Tensor device_index = upload_i32(index);
  move_rows(false, x.raw_data(), out.raw_data(), device_data<int32_t>(device_index), 0,
            static_cast<int64_t>(rows.size()), static_cast<int64_t>(x.nbytes() / count));
  return out;
}

// ids [...] -> [..., D] rows of weight [V, D]
Tensor embedding(const Tensor& ids, const Tensor& weight) {
  const int64_t features = weight.shape()[1];
  Shape out_shape = ids.shape();
  out_shape.push_back(features);
  Tensor out = Tensor::empty(out_shape, weight.dtype(), Device::CUDA);
  move_rows(false, weight.raw_data(), out.raw_data(), device_data<int32_t>(ids), 0, ids.numel(),
            features * static_cast<int64_t>(dtype_size(weight.dtype())));
  return out;
}

// ids [...], grad [..., D] -> [vocab, D]
Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab) {
  const int64_t features = grad.shape().back();
  Tensor out = Tensor::zeros({vocab, features}, grad.dtype(), Device::CUDA);
  dispatch_floating(grad.dtype(), "embedding_backward", [&]<class T>() {
    // The ids on the host, for the counting sort below (their range was checked before dispatch).
    const std::vector<int32_t> id = ids.to(Device::CPU).to_vector<int32_t>();
    if (id.empty() || features == 0) return;
    if (id.size() > INT32_MAX) throw std::invalid_argument("embedding_backward: CUDA takes at most 2^31 - 1 ids");
    // Counting sort of the positions by id (stable: positions stay in increasing order).
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
    launch("embedding_backward_kernel", embedding_backward_kernel<T>,
           {static_cast<unsigned>(distinct.size()), kThreads}, device_data<T>(grad), device_data<T>(out), plan_ids,
           plan_ids + distinct.size(), plan_ids + distinct.size() + offsets.size(), features);
  });
  return out;
}

// tokens i32 [N, L] -> i32 [N], on the device
Tensor eot_positions(const Tensor& tokens, int64_t eos_token_id) {
  const int64_t batch = tokens.size(0), length = tokens.size(1);
  Tensor out = Tensor::empty({batch}, DType::I32, Device::CUDA);
  if (batch == 0) return out;
  launch("eot_positions_kernel", eot_positions_kernel, {grid_for(batch), kThreads}, device_data<int32_t>(tokens),
         device_data<int32_t>(out), batch, length, eos_token_id);
  return out;
}

// x [N, L, D], index i32 [N] -> [N, D]: row index[n] of each sample
Tensor gather_rows(const Tensor& x, const Tensor& index) {
  const int64_t batch = x.shape()[0], length = x.shape()[1], features = x.shape()[2];
  Tensor out = Tensor::empty({batch, features}, x.dtype(), Device::CUDA);
  move_rows(false, x.raw_data(), out.raw_data(), device_data<int32_t>(index), length, batch,
            features * static_cast<int64_t>(dtype_size(x.dtype())));
  return out;
}

// grad [N, D], index i32 [N] -> [N, length, D], zero but at the gathered rows
Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length) {
  const int64_t batch = grad.shape()[0], features = grad.shape()[1];
  Tensor out = Tensor::zeros({batch, length, features}, grad.dtype(), Device::CUDA);
  move_rows(true, grad.raw_data(), out.raw_data(), device_data<int32_t>(index), length, batch,
            features * static_cast<int64_t>(dtype_size(grad.dtype())));
  return out;
}

}  // namespace clipgrad::cuda
