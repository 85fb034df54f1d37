// Kernel lab: attention forward over head-split tensors, out = softmax(scale
// q k^T + mask) v with q, k, v [B, L, hd] (B = batch x heads) and the causal
// mask of CLIP's text tower.
//
//   build/dev/cuda/lab_attention [B L hd]     (default 256 x 8 heads, L 77, hd 64: the text tower)
//
//   1 naive: three kernels and a scores matrix S [B, L, L] in global memory:
//     S = scale q k^T + mask (a thread per score), softmax of each row in place
//     (a thread per row), out = S v (a thread per output). S is written, read
//     three times and rewritten: for L = 77, hd = 64 that is more traffic than
//     q, k and v together.
//   2 fused (what tensor/cuda/fused/attention.cu does): a block per (head,
//     32 queries) stages the head's K and V in shared memory once (rows
//     padded to hd + 1 floats: lane j reads row j at the same column, and the
//     odd pitch puts the 32 reads in 32 different banks); a warp per query
//     keeps its L <= 257 scores in registers (9 per lane), does the softmax
//     with shuffles and accumulates p v with lanes over hd. Only the
//     probabilities leave the chip (the backward needs them), and out.
#include "lab_common.cuh"

constexpr int kWarps = 8, kQueriesPerBlock = 32, kKeysPerLane = 9;  // 9 x 32 = 288 >= 257 keys

__device__ float warp_sum(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
  return value;
}
__device__ float warp_max(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffff, value, offset));
  return value;
}
__device__ float causal(int i, int j) { return j > i ? -INFINITY : 0.f; }

// ---- 1 naive ----

// one thread per (b, i, j) of S [B, L, L]
__global__ void scores_kernel1(const float* q, const float* k, int batch, int length, int hd, float scale, float* s) {
  const size_t index = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= size_t(batch) * length * length) return;
  const size_t b = index / (size_t(length) * length);
  const int i = (index / length) % length, j = index % length;
  float dot = 0;
  for (int c = 0; c < hd; ++c) dot += q[(b * length + i) * hd + c] * k[(b * length + j) * hd + c];
  s[index] = scale * dot + causal(i, j);
}

// one thread per row of S
__global__ void softmax_kernel1(float* s, int rows, int length) {
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  float* x = s + size_t(row) * length;
  float max = -INFINITY, total = 0;
  for (int j = 0; j < length; ++j) max = fmaxf(max, x[j]);
  for (int j = 0; j < length; ++j) total += x[j] = expf(x[j] - max);
  for (int j = 0; j < length; ++j) x[j] /= total;
}

// one thread per (b, i, c) of out [B, L, hd]
__global__ void pv_kernel1(const float* p, const float* v, int batch, int length, int hd, float* out) {
  const size_t index = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= size_t(batch) * length * hd) return;
  const size_t row = index / hd, b = row / length;
  const int c = index % hd;
  float total = 0;
  for (int j = 0; j < length; ++j) total += p[row * length + j] * v[(b * length + j) * hd + c];
  out[index] = total;
}

// ---- 2 fused ----

// grid (B, ceil(L / 32)), block 256, dynamic shared (2 L (hd + 1) + 8 (hd + L)) floats.
__global__ void attention_forward_kernel2(const float* q, const float* k, const float* v, int length, int hd,
                                          float scale, float* probs, float* out) {
  CLIPGRAD_DYNAMIC_SHARED(float, shared);
  const size_t head = blockIdx.x;
  const int pitch = hd + 1, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* keys = shared;
  float* values = keys + length * pitch;
  float* query = values + length * pitch + warp * (hd + length);
  float* p_row = query + hd;
  for (int index = threadIdx.x; index < length * hd; index += blockDim.x) {
    keys[(index / hd) * pitch + index % hd] = k[head * length * hd + index];
    values[(index / hd) * pitch + index % hd] = v[head * length * hd + index];
  }
  __syncthreads();
  const int last = min(length, int(blockIdx.y + 1) * kQueriesPerBlock);
  for (int i = blockIdx.y * kQueriesPerBlock + warp; i < last; i += kWarps) {
    const size_t row = head * length + i;
    for (int c = lane; c < hd; c += 32) query[c] = q[row * hd + c];
    __syncwarp();
    float score[kKeysPerLane], max = -INFINITY;
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      const int j = lane + 32 * t;
      score[t] = -INFINITY;
      if (j < length) {
        float dot = 0;
        for (int c = 0; c < hd; ++c) dot += query[c] * keys[j * pitch + c];
        score[t] = scale * dot + causal(i, j);
        max = fmaxf(max, score[t]);
      }
    }
    max = warp_max(max);
    float total = 0;
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t)
      if (lane + 32 * t < length) total += score[t] = expf(score[t] - max);
    const float inverse = 1.f / warp_sum(total);
#pragma unroll
    for (int t = 0; t < kKeysPerLane; ++t) {
      const int j = lane + 32 * t;
      if (j < length) probs[row * length + j] = p_row[j] = score[t] * inverse;
    }
    __syncwarp();
    for (int c = lane; c < hd; c += 32) {
      float acc = 0;
      for (int j = 0; j < length; ++j) acc += p_row[j] * values[j * pitch + c];
      out[row * hd + c] = acc;
    }
    __syncwarp();
  }
}

int main(int argc, char** argv) {
  if (!lab_has_device()) return 0;
  const int batch = argc > 3 ? std::atoi(argv[1]) : 256 * 8, length = argc > 3 ? std::atoi(argv[2]) : 77,
            hd = argc > 3 ? std::atoi(argv[3]) : 64;
  if (length > 32 * kKeysPerLane) {
    std::fprintf(stderr, "L must be <= %d for the fused version\n", 32 * kKeysPerLane);
    return 1;
  }
  std::printf("attention B %d, L %d, hd %d, causal\n", batch, length, hd);
  const size_t elements = size_t(batch) * length * hd;
  const std::vector<float> q = random_values(elements, 1.f, 1), k = random_values(elements, 1.f, 2),
                           v = random_values(elements, 1.f, 3);
  const float scale = 1.f / std::sqrt(float(hd));
  // CPU reference on the first 4 heads.
  const int checked = std::min(batch, 4);
  std::vector<float> want(size_t(checked) * length * hd);
  for (int b = 0; b < checked; ++b)
    for (int i = 0; i < length; ++i) {
      std::vector<double> p(length);
      double max = -INFINITY, total = 0;
      for (int j = 0; j < length; ++j) {
        double dot = 0;
        for (int c = 0; c < hd; ++c) dot += q[(size_t(b) * length + i) * hd + c] * k[(size_t(b) * length + j) * hd + c];
        p[j] = j > i ? -INFINITY : scale * dot;
        max = std::max(max, p[j]);
      }
      for (double& value : p) total += value = std::exp(value - max);
      for (int c = 0; c < hd; ++c) {
        double acc = 0;
        for (int j = 0; j < length; ++j) acc += p[j] / total * v[(size_t(b) * length + j) * hd + c];
        want[(size_t(b) * length + i) * hd + c] = float(acc);
      }
    }
  float *device_q = to_device(q), *device_k = to_device(k), *device_v = to_device(v);
  float *scores = nullptr, *out = nullptr;
  LAB_CHECK(cudaMalloc(&scores, size_t(batch) * length * length * sizeof(float)));
  LAB_CHECK(cudaMalloc(&out, elements * sizeof(float)));
  const double flops = 4.0 * batch * length * length * hd;  // q k^T and p v
  auto report = [&](const char* name, float milliseconds) {
    check_against_cpu(name, to_host(out, want.size()), want, 1e-3f);
    std::printf("  %-28s %8.3f ms  %7.2f TFLOP/s\n", name, milliseconds, flops / milliseconds / 1e9);
  };
  const size_t score_count = size_t(batch) * length * length;
  report("1 naive (scores in DRAM)", time_ms([&] {
           lab_launch(scores_kernel1, unsigned((score_count + 255) / 256), 256, 0, device_q, device_k, batch, length,
                      hd, scale, scores);
           lab_launch(softmax_kernel1, (batch * length + 255) / 256, 256, 0, scores, batch * length, length);
           lab_launch(pv_kernel1, unsigned((elements + 255) / 256), 256, 0, scores, device_v, batch, length, hd, out);
         }));
  const size_t shared_bytes = sizeof(float) * (2 * size_t(length) * (hd + 1) + kWarps * size_t(hd + length));
  LAB_CHECK(
      cudaFuncSetAttribute(attention_forward_kernel2, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)));
  const dim3 grid(batch, (length + kQueriesPerBlock - 1) / kQueriesPerBlock);
  report("2 fused (scores on chip)", time_ms([&] {
           lab_launch(attention_forward_kernel2, grid, kWarps * 32, shared_bytes, device_q, device_k, device_v, length,
                      hd, scale, scores, out);
         }));
  for (float* pointer : {device_q, device_k, device_v, scores, out}) cudaFree(pointer);
  return lab_exit_code();
}
