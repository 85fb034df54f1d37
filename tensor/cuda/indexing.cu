// The CUDA kernels of the indexing family (tensor/ops/shape.h), the twin of
// tensor/cpu/indexing.cpp: index_rows, embedding and its backward,
// gather_rows (the EOT gather) and its backward. Any dtype.
//
// A device index tensor is checked here, by the kernels, not read back to the
// host first (that would make the host wait in every step): a bad index is
// skipped (its row left zero) and recorded, and the next read back throws,
// naming it (cuda/bad_indices.h). index_rows takes host rows, checked before
// dispatch. Rows are moved in the widest word (8, 4, 2 or 1 bytes) that
// divides the row: a thread per word, grid-stride, 256-thread blocks;
// consecutive threads take consecutive words of a row.
//
// embedding_backward is deterministic without atomics on the values and
// without the host: one block per vocabulary row scans the ids in order, a
// tile of 256 at a time, lists the tile's positions that use its id in
// increasing order (warp ballots) and adds their gradient rows, a thread per
// feature, in the element type: the CPU kernel's order, so the same bits.
// A first kernel marks the ids in use, so that the blocks of unused rows only
// write zeros.
#include "cuda/bad_indices.h"
#include "tensor/cuda/device_tensor.h"

#include <vector>

namespace clipgrad::cuda {

namespace {

// ---- kernels ----

// Where a gather or scatter checks its indices: each in [0, bound), a bad
// one recorded for `op`; record null: the indices were checked on the host.
struct IndexCheck {
  BadIndexRecord* record = nullptr;
  IndexedOp op = IndexedOp::gather_rows;
  int64_t bound = 0;
};

// Whether index[r] may be used; the first word's thread records a bad one.
__device__ inline bool index_ok(const IndexCheck& check, int64_t r, int32_t index, int64_t w) {
  if (!check.record || (index >= 0 && index < check.bound)) return true;
  if (w == 0) record_bad_index(check.record, check.op, r, index, check.bound);
  return false;
}

// dst row r (of row_words words) = src row r * src_step + index[r] (zero for a bad index)
template <class E>
__global__ void gather_kernel(const E* src, E* dst, const int32_t* index, int64_t src_step, int64_t rows,
                              int64_t row_words, IndexCheck check) {
  CLIPGRAD_GRID_STRIDE(i, rows * row_words) {
    const int64_t r = i / row_words, w = i % row_words;
    dst[i] = index_ok(check, r, index[r], w) ? src[(r * src_step + index[r]) * row_words + w] : E(0);
  }
}

// dst row r * dst_step + index[r] = src row r (the destination rows are distinct; a bad index writes nothing)
template <class E>
__global__ void scatter_kernel(const E* src, E* dst, const int32_t* index, int64_t dst_step, int64_t rows,
                               int64_t row_words, IndexCheck check) {
  CLIPGRAD_GRID_STRIDE(i, rows * row_words) {
    const int64_t r = i / row_words, w = i % row_words;
    if (index_ok(check, r, index[r], w)) dst[(r * dst_step + index[r]) * row_words + w] = src[i];
  }
}

// used[v] = 1 for each id v in range; a bad id is recorded.
__global__ void mark_used_ids_kernel(const int32_t* ids, int64_t count, int32_t* used, int64_t vocab,
                                     BadIndexRecord* record) {
  CLIPGRAD_GRID_STRIDE(i, count) {
    const int32_t id = ids[i];
    if (id >= 0 && id < vocab)
      atomicOr(&used[id], 1);
    else
      record_bad_index(record, IndexedOp::embedding_backward, i, id, vocab);
  }
}

// table [V, features]: block v writes row v, the sum in increasing position
// of the grad rows whose id is v (zero if none). Each tile of kThreads ids
// is scanned at once: the warps' ballots give each match its rank, the
// matches are listed in order in shared memory, and every thread adds their
// rows for its features. Unused rows (used[v] == 0) skip the scan.
template <class T>
__global__ void embedding_backward_kernel(const T* grad, const int32_t* ids, const int32_t* used, T* table,
                                          int64_t count, int64_t features) {
  __shared__ int32_t matches[kThreads];
  __shared__ int32_t warp_matches[kWarpsPerBlock];
  const int32_t id = static_cast<int32_t>(blockIdx.x);
  T* row = table + int64_t(id) * features;
  if (!used[id]) {  // the same for the whole block, so no __syncthreads below is skipped by part of it
    for (int64_t f = threadIdx.x; f < features; f += blockDim.x) row[f] = T(0);
    return;
  }
  const int lane = static_cast<int>(threadIdx.x % kWarp), warp = static_cast<int>(threadIdx.x / kWarp);
  for (int64_t first_feature = 0; first_feature < features; first_feature += blockDim.x) {
    const int64_t f = first_feature + threadIdx.x;
    T acc = T(0);
    for (int64_t tile = 0; tile < count; tile += blockDim.x) {
      const int64_t position = tile + threadIdx.x;
      const bool match = position < count && ids[position] == id;
      const unsigned ballot = __ballot_sync(0xffffffffu, match);
      if (lane == 0) warp_matches[warp] = __popc(ballot);
      __syncthreads();
      int before = 0, total = 0;
      for (int w = 0; w < kWarpsPerBlock; ++w) {
        before += w < warp ? warp_matches[w] : 0;
        total += warp_matches[w];
      }
      if (match) matches[before + __popc(ballot & ((1u << lane) - 1u))] = static_cast<int32_t>(position);
      __syncthreads();
      if (f < features)
        for (int m = 0; m < total; ++m) acc += grad[int64_t(matches[m]) * features + f];
      __syncthreads();  // the next tile rewrites matches and warp_matches
    }
    if (f < features) row[f] = acc;
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
               int64_t row_bytes, IndexCheck check) {
  if (rows == 0 || row_bytes == 0) return;
  auto move = [&]<class E>() {
    const int64_t row_words = row_bytes / int64_t(sizeof(E));
    const unsigned grid = grid_for(rows * row_words);
    if (scatter) {
      launch("scatter_kernel", scatter_kernel<E>, {grid, kThreads}, static_cast<const E*>(src), static_cast<E*>(dst),
             index, step, rows, row_words, check);
    } else {
      launch("gather_kernel", gather_kernel<E>, {grid, kThreads}, static_cast<const E*>(src), static_cast<E*>(dst),
             index, step, rows, row_words, check);
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
            static_cast<int64_t>(rows.size()), static_cast<int64_t>(x.nbytes() / count), IndexCheck{});
  return out;
}

// ids [...] -> [..., D] rows of weight [V, D]
Tensor embedding(const Tensor& ids, const Tensor& weight) {
  const int64_t features = weight.shape()[1];
  Shape out_shape = ids.shape();
  out_shape.push_back(features);
  Tensor out = Tensor::empty(out_shape, weight.dtype(), Device::CUDA);
  move_rows(false, weight.raw_data(), out.raw_data(), device_data<int32_t>(ids), 0, ids.numel(),
            features * static_cast<int64_t>(dtype_size(weight.dtype())),
            {bad_index_record(), IndexedOp::embedding, weight.shape()[0]});
  return out;
}

// ids [...], grad [..., D] -> [vocab, D]
Tensor embedding_backward(const Tensor& ids, const Tensor& grad, int64_t vocab) {
  const int64_t features = grad.shape().back(), count = ids.numel();
  if (count > INT32_MAX) throw std::invalid_argument("embedding_backward: CUDA takes at most 2^31 - 1 ids");
  if (vocab > INT32_MAX) throw std::invalid_argument("embedding_backward: CUDA takes a vocabulary below 2^31");
  Tensor out = Tensor::empty({vocab, features}, grad.dtype(), Device::CUDA);
  if (vocab == 0 || features == 0) return out;
  Tensor used = Tensor::zeros({vocab}, DType::I32, Device::CUDA);
  if (count > 0)
    launch("mark_used_ids_kernel", mark_used_ids_kernel, {grid_for(count), kThreads}, device_data<int32_t>(ids), count,
           device_data<int32_t>(used), vocab, bad_index_record());
  dispatch_floating(grad.dtype(), "embedding_backward", [&]<class T>() {
    launch("embedding_backward_kernel", embedding_backward_kernel<T>, {static_cast<unsigned>(vocab), kThreads},
           device_data<T>(grad), device_data<int32_t>(ids), device_data<int32_t>(used), device_data<T>(out), count,
           features);
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
            features * static_cast<int64_t>(dtype_size(x.dtype())),
            {bad_index_record(), IndexedOp::gather_rows, length});
  return out;
}

// grad [N, D], index i32 [N] -> [N, length, D], zero but at the gathered rows
Tensor gather_rows_backward(const Tensor& grad, const Tensor& index, int64_t length) {
  const int64_t batch = grad.shape()[0], features = grad.shape()[1];
  Tensor out = Tensor::zeros({batch, length, features}, grad.dtype(), Device::CUDA);
  move_rows(true, grad.raw_data(), out.raw_data(), device_data<int32_t>(index), length, batch,
            features * static_cast<int64_t>(dtype_size(grad.dtype())),
            {bad_index_record(), IndexedOp::gather_rows_backward, length});
  return out;
}

}  // namespace clipgrad::cuda
