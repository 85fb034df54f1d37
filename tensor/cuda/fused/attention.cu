// The CUDA kernels of the attention family (tensor/ops/attention.h), the twin
// of tensor/cpu/attention.cpp: attention over head-split tensors, f32.
//
// Fused path (Lk <= 257 keys and K, V of one head fit in shared memory):
// one block per (head, tile of 32 queries) stages that head's K and V in
// shared memory once; each warp then takes one query at a time, computes its
// Lk scores in registers (lane j holds keys j, j + 32, ...: at most 9 each),
// the masked softmax with warp shuffles, and out = p V with lanes over the
// head dim. The scores never go to global memory; only the probabilities do,
// because the backward is specified to take them (ops::attention_heads).
// The backward runs the same way per query: dp = dO V^T, ds = p (dp -
// rowsum(p dp)), dq = scale ds K, writing ds; dk = scale ds^T q and dv =
// p^T dO, sums over queries, are two strided-batched GEMMs.
//
// Longer sequences: batched GEMMs around a warp-per-row softmax.
//
// attention_forward_kernel2 is version 2 of the kernel lab
// dev/cuda/attention.cu (the same name there, beside the naive version 1
// that keeps the scores in DRAM, with a CPU check and a timing). The
// backward and fallback kernels have no lab yet.
//
// Shared-memory rows are padded to hd + 1 floats: lane j reads row j at the
// same column d, and a pitch of hd + 1 puts those 32 reads in 32 banks.
//
// One divergence from the CPU twin: a mask row that is -inf for every key
// gives NaN probabilities here (as PyTorch's CUDA kernels do) instead of an
// exception, which would need a device-to-host copy per call to detect.
#include <cmath>

#include "cuda/device.h"
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

// The longest key sequence the fused kernels hold on chip (ViT-B/16 at 224 px: 197; 257 at 256 px).
constexpr int64_t kFusedMaxKeys = 257;
constexpr int kWarps = 8;             // warps per block, one query each at a time
constexpr int kQueriesPerBlock = 32;  // a block's queries: 4 per warp, so K and V are loaded once for 32 rows
constexpr int kKeysPerLane = int((kFusedMaxKeys + 31) / 32);

struct Dims {
  int64_t heads;  // B = N * heads
  int queries, keys, head_dim;
};

// ---- kernels ----

// Stages K and V of one head ([Lk, hd] each, contiguous) into shared rows of pitch hd + 1.
__device__ void stage_keys_values(const float* k, const float* v, const Dims& d, float* keys, float* values) {
  const int pitch = d.head_dim + 1;
  for (int index = threadIdx.x; index < d.keys * d.head_dim; index += blockDim.x) {
    const int j = index / d.head_dim, c = index % d.head_dim;
    keys[j * pitch + c] = k[index];
    values[j * pitch + c] = v[index];
  }
}

// A block's dynamic shared memory (fused_shared_bytes): its head's keys and
// values [Lk, hd + 1], then per warp one row on the query's side [hd] (q or
// dO) and one on the keys' side [Lk] (p or ds).
struct SharedTile {
  float *keys, *values, *query_row, *key_row;
};

// Lays out the tile and stages the block's head (blockIdx.x) of k and v into
// it. Contains __syncthreads: call from every thread of the block.
__device__ SharedTile stage_head(float* shared, const float* k, const float* v, const Dims& d) {
  const int pitch = d.head_dim + 1, warp = threadIdx.x / 32;
  const int64_t head = blockIdx.x;
  SharedTile tile;
  tile.keys = shared;
  tile.values = tile.keys + d.keys * pitch;
  tile.query_row = tile.values + d.keys * pitch + warp * (d.head_dim + d.keys);
  tile.key_row = tile.query_row + d.head_dim;
  stage_keys_values(k + head * d.keys * d.head_dim, v + head * d.keys * d.head_dim, d, tile.keys, tile.values);
  __syncthreads();
  return tile;
}

// grid (B, ceil(Lq / kQueriesPerBlock)), block kWarps * 32, dynamic shared fused_shared_bytes.
// q [B, Lq, hd], k, v [B, Lk, hd], mask [Lq, Lk] or null -> probs [B, Lq, Lk], out [B, Lq, hd].
__global__ void attention_forward_kernel2(const float* q, const float* k, const float* v, const float* mask,
                                          float scale, Dims d, float* probs, float* out) {
  CLIPGRAD_DYNAMIC_SHARED(float, shared);
  const int64_t head = blockIdx.x;
  const int pitch = d.head_dim + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const SharedTile tile = stage_head(shared, k, v, d);
  const float *keys = tile.keys, *values = tile.values;
  float* query_row = tile.query_row;  // [hd]
  float* prob_row = tile.key_row;     // [Lk]
  const int first = blockIdx.y * kQueriesPerBlock, last = min(d.queries, first + kQueriesPerBlock);
  for (int i = first + warp; i < last; i += kWarps) {
    const int64_t row = head * d.queries + i;
    for (int c = lane; c < d.head_dim; c += 32) query_row[c] = q[row * d.head_dim + c];
    __syncwarp();
    float score[kKeysPerLane];
    float max = -INFINITY;
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      const int j = lane + 32 * t;
      score[t] = -INFINITY;
      if (j < d.keys) {
        const float* key = keys + j * pitch;
        float dot = 0;
        for (int c = 0; c < d.head_dim; ++c) dot += query_row[c] * key[c];
        score[t] = scale * dot + (mask ? mask[int64_t(i) * d.keys + j] : 0.f);
        max = fmaxf(max, score[t]);
      }
    }
    max = warp_max(max);
    float total = 0;
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      if (lane + 32 * t < d.keys) {
        score[t] = expf(score[t] - max);
        total += score[t];
      }
    }
    const float inverse = 1.f / warp_sum(total);
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      const int j = lane + 32 * t;
      if (j < d.keys) {
        const float p = score[t] * inverse;
        probs[row * d.keys + j] = p;
        prob_row[j] = p;
      }
    }
    __syncwarp();
    for (int c = lane; c < d.head_dim; c += 32) {
      float total_c = 0;
      for (int j = 0; j < d.keys; ++j) total_c += prob_row[j] * values[j * pitch + c];
      out[row * d.head_dim + c] = total_c;
    }
    __syncwarp();  // query_row and prob_row are rewritten for the warp's next query
  }
}

// grid, block, shared as the forward. grad_out, q [B, Lq, hd], k, v [B, Lk, hd], probs [B, Lq, Lk]
// -> grad_scores [B, Lq, Lk] = p (dp - rowsum(p dp)) with dp = dO V^T; grad_q [B, Lq, hd] = scale ds K (if not null).
__global__ void fused_backward_rows_kernel(const float* grad_out, const float* k, const float* v, const float* probs,
                                           float scale, Dims d, float* grad_scores, float* grad_q) {
  CLIPGRAD_DYNAMIC_SHARED(float, shared);
  const int64_t head = blockIdx.x;
  const int pitch = d.head_dim + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const SharedTile tile = stage_head(shared, k, v, d);
  const float *keys = tile.keys, *values = tile.values;
  float* grad_row = tile.query_row;  // [hd] dO of the query
  float* ds_row = tile.key_row;      // [Lk]
  const int first = blockIdx.y * kQueriesPerBlock, last = min(d.queries, first + kQueriesPerBlock);
  for (int i = first + warp; i < last; i += kWarps) {
    const int64_t row = head * d.queries + i;
    for (int c = lane; c < d.head_dim; c += 32) grad_row[c] = grad_out[row * d.head_dim + c];
    __syncwarp();
    float p[kKeysPerLane], dp[kKeysPerLane];
    float dot = 0;
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      const int j = lane + 32 * t;
      p[t] = 0;
      dp[t] = 0;
      if (j < d.keys) {
        const float* value = values + j * pitch;
        for (int c = 0; c < d.head_dim; ++c) dp[t] += grad_row[c] * value[c];
        p[t] = probs[row * d.keys + j];
        dot += p[t] * dp[t];
      }
    }
    dot = warp_sum(dot);
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      const int j = lane + 32 * t;
      if (j < d.keys) {
        const float ds = p[t] * (dp[t] - dot);
        grad_scores[row * d.keys + j] = ds;
        ds_row[j] = ds;
      }
    }
    __syncwarp();
    if (grad_q) {
      for (int c = lane; c < d.head_dim; c += 32) {
        float total = 0;
        for (int j = 0; j < d.keys; ++j) total += ds_row[j] * keys[j * pitch + c];
        grad_q[row * d.head_dim + c] = scale * total;
      }
    }
    __syncwarp();
  }
}

// grid ceil(rows / kWarps), block kWarps * 32: one warp per row of scores [rows, Lk], in place:
// scores = softmax(scores + mask[row % Lq]) (mask [Lq, Lk] or null).
__global__ void masked_softmax_rows_kernel(float* scores, const float* mask, int64_t rows, int queries, int keys) {
  const int64_t row = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float* x = scores + row * keys;
  const float* mask_row = mask ? mask + (row % queries) * keys : nullptr;
  float max = -INFINITY;
  for (int j = lane; j < keys; j += 32) {
    if (mask_row) x[j] += mask_row[j];
    max = fmaxf(max, x[j]);
  }
  max = warp_max(max);
  float total = 0;
  for (int j = lane; j < keys; j += 32) {
    x[j] = expf(x[j] - max);
    total += x[j];
  }
  const float inverse = 1.f / warp_sum(total);
  for (int j = lane; j < keys; j += 32) x[j] *= inverse;
}

// As masked_softmax_rows_kernel's grid: grad [rows, Lk] holds dp on entry and ds = p (dp - rowsum(p dp)) on exit.
__global__ void softmax_backward_rows_kernel(float* grad, const float* probs, int64_t rows, int keys) {
  const int64_t row = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float* g = grad + row * keys;
  const float* p = probs + row * keys;
  float dot = 0;
  for (int j = lane; j < keys; j += 32) dot += p[j] * g[j];
  dot = warp_sum(dot);
  for (int j = lane; j < keys; j += 32) g[j] = p[j] * (g[j] - dot);
}

// ---- launchers ----

size_t fused_shared_bytes(int64_t keys, int64_t head_dim) {
  // keys, values [Lk, hd + 1]; per warp: one row of q (or dO) [hd] and one of p (or ds) [Lk]
  return sizeof(float) * size_t(2 * keys * (head_dim + 1) + kWarps * (head_dim + keys));
}

// q [B, Lq, hd], k, v [B, Lk, hd] (checked before dispatch) as the kernels' Dims; the
// fused kernels take f32 and index with int.
Dims attention_dims(const Tensor& q, const Tensor& k) {
  if (q.dtype() != DType::F32)
    throw std::invalid_argument(std::string("attention: CUDA takes f32, got ") + dtype_name(q.dtype()));
  const int64_t B = q.shape()[0], Lq = q.shape()[1], hd = q.shape()[2], Lk = k.shape()[1];
  if (Lq > (1 << 30) || Lk > (1 << 30) || hd > (1 << 30))
    throw std::invalid_argument("attention: sequence or head dims past 2^30, got q " + shape_str(q.shape()));
  return {B, int(Lq), int(Lk), int(hd)};
}

dim3 fused_grid(const Dims& d) {
  return dim3(unsigned(d.heads), unsigned((d.queries + kQueriesPerBlock - 1) / kQueriesPerBlock));
}
unsigned row_blocks(int64_t rows) { return unsigned((rows + kWarps - 1) / kWarps); }

template <class Kernel>
void allow_shared(Kernel kernel, size_t bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

}  // namespace

bool attention_runs_fused(int64_t keys, int64_t head_dim) {
  if (keys > kFusedMaxKeys) return false;
  int optin = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cuda::current_device()));
  return fused_shared_bytes(keys, head_dim) <= size_t(optin);
}

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale,
                       Tensor& probs) {
  const Dims d = attention_dims(q, k);
  // The mask [Lq, Lk] in f32 (a conversion on the device when it is given in another dtype).
  const Tensor additive = !mask.defined() || mask.dtype() == DType::F32 ? mask : mask.to(DType::F32);
  probs = Tensor::empty({d.heads, d.queries, d.keys}, DType::F32, Device::CUDA);
  Tensor out = Tensor::empty({d.heads, d.queries, d.head_dim}, DType::F32, Device::CUDA);
  if (d.heads == 0) return out;
  const float* mask_data = device_data_or_null<float>(additive);
  if (attention_runs_fused(d.keys, d.head_dim)) {
    const size_t bytes = fused_shared_bytes(d.keys, d.head_dim);
    allow_shared(attention_forward_kernel2, bytes);
    launch("attention_forward_kernel2", attention_forward_kernel2, {fused_grid(d), kWarps * 32, bytes},
           device_data<float>(q), device_data<float>(k), device_data<float>(v), mask_data, float(scale), d,
           device_data<float>(probs), device_data<float>(out));
    return out;
  }
  // probs [B, Lq, Lk] = scale q k^T, then the masked softmax in place, then out = probs v.
  cuda::gemm({.trans_b = true,
              .batch = d.heads,
              .m = d.queries,
              .n = d.keys,
              .k = d.head_dim,
              .stride_a = int64_t(d.queries) * d.head_dim,
              .stride_b = int64_t(d.keys) * d.head_dim,
              .stride_c = int64_t(d.queries) * d.keys,
              .alpha = scale},
             q, k, probs);
  const int64_t rows = d.heads * d.queries;
  launch("masked_softmax_rows_kernel", masked_softmax_rows_kernel, {row_blocks(rows), kWarps * 32},
         device_data<float>(probs), mask_data, rows, d.queries, d.keys);
  cuda::gemm({.batch = d.heads,
              .m = d.queries,
              .n = d.head_dim,
              .k = d.keys,
              .stride_a = int64_t(d.queries) * d.keys,
              .stride_b = int64_t(d.keys) * d.head_dim,
              .stride_c = int64_t(d.queries) * d.head_dim},
             probs, v, out);
  return out;
}

void attention_heads_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& probs, double scale, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v) {
  const Dims d = attention_dims(q, k);
  if (d.heads == 0) return;
  const int64_t q_stride = int64_t(d.queries) * d.head_dim, kv_stride = int64_t(d.keys) * d.head_dim,
                p_stride = int64_t(d.queries) * d.keys;
  if (grad_v)  // dv [Lk, hd] = p^T [Lk, Lq] dO [Lq, hd]
    cuda::gemm({.trans_a = true,
                .batch = d.heads,
                .m = d.keys,
                .n = d.head_dim,
                .k = d.queries,
                .stride_a = p_stride,
                .stride_b = q_stride,
                .stride_c = kv_stride},
               probs, grad, *grad_v);
  if (!grad_q && !grad_k) return;
  Tensor grad_scores = Tensor::empty({d.heads, d.queries, d.keys}, DType::F32, Device::CUDA);  // ds [B, Lq, Lk]
  if (attention_runs_fused(d.keys, d.head_dim)) {
    const size_t bytes = fused_shared_bytes(d.keys, d.head_dim);
    allow_shared(fused_backward_rows_kernel, bytes);
    launch("fused_backward_rows_kernel", fused_backward_rows_kernel, {fused_grid(d), kWarps * 32, bytes},
           device_data<float>(grad), device_data<float>(k), device_data<float>(v), device_data<float>(probs),
           float(scale), d, device_data<float>(grad_scores), grad_q ? device_data<float>(*grad_q) : nullptr);
  } else {
    // dp [Lq, Lk] = dO [Lq, hd] v^T, then ds = p (dp - rowsum(p dp)) in place, then dq = scale ds k.
    cuda::gemm({.trans_b = true,
                .batch = d.heads,
                .m = d.queries,
                .n = d.keys,
                .k = d.head_dim,
                .stride_a = q_stride,
                .stride_b = kv_stride,
                .stride_c = p_stride},
               grad, v, grad_scores);
    const int64_t rows = d.heads * d.queries;
    launch("softmax_backward_rows_kernel", softmax_backward_rows_kernel, {row_blocks(rows), kWarps * 32},
           device_data<float>(grad_scores), device_data<float>(probs), rows, d.keys);
    if (grad_q)
      cuda::gemm({.batch = d.heads,
                  .m = d.queries,
                  .n = d.head_dim,
                  .k = d.keys,
                  .stride_a = p_stride,
                  .stride_b = kv_stride,
                  .stride_c = q_stride,
                  .alpha = scale},
                 grad_scores, k, *grad_q);
  }
  if (grad_k)  // dk [Lk, hd] = scale ds^T [Lk, Lq] q [Lq, hd]
    cuda::gemm({.trans_a = true,
                .batch = d.heads,
                .m = d.keys,
                .n = d.head_dim,
                .k = d.queries,
                .stride_a = p_stride,
                .stride_b = q_stride,
                .stride_c = kv_stride,
                .alpha = scale},
               grad_scores, q, *grad_k);
}

}  // namespace clipgrad::cuda
