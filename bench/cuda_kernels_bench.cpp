// CUDA kernels beside the machine's own ceilings, measured in the same run:
//   BM_CudaGemmPeak      cuBLASLt SGEMM 8192^3, fp32 and tf32: the GEMM rate to compare against
//   BM_CudaDeviceCopy    cudaMemcpyAsync device to device, 1 GiB: the bandwidth ceiling
//   BM_CudaGemm          CLIP's GEMM shapes (ViT-B/32 MLP, attention heads) in TFLOP/s
//   BM_CudaLayerNorm     ops::layer_norm (the installed CUDA table) in GB/s
//   BM_CudaAttention     fused attention forward and backward (ViT-B/32: L 50, text: L 77 causal) in TFLOP/s
//   BM_CudaContrastive   the fused contrastive cross-entropy at batch 256..16384 in GB/s
//
//   build/bench/cuda_kernels_bench [--benchmark_filter=...]
//
// Every time is GPU time between CUDA events on the compute stream
// (UseManualTime). Without a GPU every benchmark reports "no CUDA device".
#include <benchmark/benchmark.h>

#include <cmath>
#include <functional>
#include <limits>

#include "tensor/ops/linalg.h"
#include "tensor/precision.h"
#include "tensor/ops/attention.h"
#include "tensor/ops/reduce.h"
#include "tensor/random.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/check.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#endif

using namespace clipgrad;

namespace {

#ifdef CLIPGRAD_HAVE_CUDA

Tensor random_cuda(const Shape& shape, uint64_t seed, double std = 1.0) {
  Tensor t = Tensor::empty(shape);
  Generator generator(seed);
  fill_normal(t, 0, std, generator);
  return t.to(Device::CUDA);
}

// Runs `work` once untimed, then once per iteration between two events; returns false (skipped) without a GPU.
bool time_on_gpu(benchmark::State& state, const std::function<void()>& work) {
  if (!cuda::available()) {
    state.SkipWithError("no CUDA device");
    return false;
  }
  try {
    work();
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return false;
  }
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  for (auto _ : state) {
    CUDA_CHECK(cudaEventRecord(start, cuda::compute_stream()));
    work();
    CUDA_CHECK(cudaEventRecord(stop, cuda::compute_stream()));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float milliseconds = 0;
    CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
    state.SetIterationTime(milliseconds / 1000.0);
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  return true;
}

void set_rate(benchmark::State& state, const char* name, double per_iteration) {
  state.counters[name] = benchmark::Counter(per_iteration * double(state.iterations()), benchmark::Counter::kIsRate);
}

// c [m, n] = a [m, k] @ b [n, k]^T, linear's layout; range(3) = 1 for TF32.
void BM_CudaGemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  set_tf32(state.range(3) == 1);
  Tensor a, b, c;
  if (cuda::available()) {
    a = random_cuda({m, k}, 1);
    b = random_cuda({n, k}, 2);
    c = Tensor::empty({m, n}, DType::F32, Device::CUDA);
  }
  const ops::GemmArgs args{.trans_b = true, .m = m, .n = n, .k = k};
  if (time_on_gpu(state, [&] { ops::gemm(args, a, b, c); })) {
    state.counters["TFLOP/s"] =
        benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  }
  set_tf32(false);
}
BENCHMARK(BM_CudaGemm)
    ->ArgNames({"m", "n", "k", "tf32"})
    ->Args({8192, 8192, 8192, 0})     // the peak rate of this GPU, fp32
    ->Args({8192, 8192, 8192, 1})     // and tf32
    ->Args({256 * 50, 3072, 768, 0})  // ViT-B/32 MLP up-projection at batch 256
    ->Args({256 * 50, 3072, 768, 1})
    ->Args({256 * 77, 2048, 512, 0})  // text tower MLP at batch 256
    ->Args({256 * 77, 2048, 512, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_CudaDeviceCopy(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  Tensor source, destination;
  if (cuda::available()) {
    source = Tensor::zeros({bytes}, DType::U8, Device::CUDA);
    destination = Tensor::empty({bytes}, DType::U8, Device::CUDA);
  }
  if (time_on_gpu(state, [&] {
        CUDA_CHECK(cudaMemcpyAsync(destination.raw_data(), source.raw_data(), size_t(bytes), cudaMemcpyDeviceToDevice,
                                   cuda::compute_stream()));
      }))
    state.counters["GB/s"] =
        benchmark::Counter(2.0 * bytes * state.iterations() / 1e9, benchmark::Counter::kIsRate);  // read + write
}
BENCHMARK(BM_CudaDeviceCopy)->Arg(int64_t(1) << 30)->UseManualTime()->Unit(benchmark::kMillisecond);

// x [rows, D] through the installed CUDA table's layer_norm (skips if the table has none).
void BM_CudaLayerNorm(benchmark::State& state) {
  const int64_t rows = state.range(0), features = state.range(1);
  Tensor x, weight, bias;
  if (cuda::available()) {
    x = random_cuda({rows, features}, 3);
    weight = random_cuda({features}, 4);
    bias = random_cuda({features}, 5);
  }
  if (time_on_gpu(state, [&] { benchmark::DoNotOptimize(ops::layer_norm(x, weight, bias, 1e-5).y.raw_data()); }))
    set_rate(state, "GB/s", 2.0 * rows * features * 4 / 1e9);
}
BENCHMARK(BM_CudaLayerNorm)
    ->Args({256 * 50, 768})
    ->Args({256 * 77, 512})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

Tensor causal(int64_t length) {
  Tensor mask = Tensor::zeros({length, length});
  for (int64_t i = 0; i < length; ++i)
    for (int64_t j = i + 1; j < length; ++j)
      mask.data<float>()[i * length + j] = -std::numeric_limits<float>::infinity();
  return mask.to(Device::CUDA);
}

// B = 256 x heads of [L, 64]; range(2) = 1: causal; range(3) = 1: backward too.
void BM_CudaAttention(benchmark::State& state) {
  const int64_t heads = state.range(0), length = state.range(1), head_dim = 64;
  const bool masked = state.range(2) == 1, backward = state.range(3) == 1;
  Tensor q, k, v, mask, grad, probs, grad_q, grad_k, grad_v;
  if (cuda::available()) {
    q = random_cuda({heads, length, head_dim}, 6);
    k = random_cuda({heads, length, head_dim}, 7);
    v = random_cuda({heads, length, head_dim}, 8);
    grad = random_cuda({heads, length, head_dim}, 9);
    grad_q = Tensor::empty_like(q);
    grad_k = Tensor::empty_like(k);
    grad_v = Tensor::empty_like(v);
    if (masked) mask = causal(length);
  }
  const double scale = 1 / std::sqrt(double(head_dim));
  if (time_on_gpu(state, [&] {
        Tensor out = ops::attention_heads(q, k, v, mask, scale, probs);
        if (backward) ops::attention_heads_backward(grad, q, k, v, probs, scale, &grad_q, &grad_k, &grad_v);
      })) {
    // forward: q k^T and p v; backward: dO v^T, ds k, ds^T q, p^T dO
    const double flops = (backward ? 6.0 : 2.0) * 2.0 * heads * length * length * head_dim;
    state.counters["TFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  }
}
BENCHMARK(BM_CudaAttention)
    ->ArgNames({"heads", "L", "causal", "backward"})
    ->Args({256 * 12, 50, 0, 0})  // ViT-B/32
    ->Args({256 * 12, 50, 0, 1})
    ->Args({256 * 8, 77, 1, 0})  // text tower
    ->Args({256 * 8, 77, 1, 1})
    ->Args({64 * 12, 197, 0, 1})  // ViT-B/16 at batch 64
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_CudaContrastive(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor logits;
  if (cuda::available()) logits = random_cuda({n, n}, 10, 30.0);
  if (time_on_gpu(state, [&] {
        benchmark::DoNotOptimize(
            ops::contrastive_cross_entropy(logits, ops::ContrastiveDirections::Symmetric).loss.raw_data());
      }))
    set_rate(state, "GB/s", 4.0 * n * n * 4 / 1e9);  // logits read 3 times, gradient written once
}
BENCHMARK(BM_CudaContrastive)->Arg(256)->Arg(4096)->Arg(16384)->UseManualTime()->Unit(benchmark::kMicrosecond);

#else

void BM_CudaKernels(benchmark::State& state) {
  for (auto _ : state) {
  }
  state.SkipWithError("built without CUDA");
}
BENCHMARK(BM_CudaKernels);

#endif

}  // namespace

BENCHMARK_MAIN();
