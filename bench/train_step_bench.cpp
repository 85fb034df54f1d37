// CPU training step of a small CLIP (forward, loss, backward, AdamW) beside
// OpenBLAS SGEMM measured in the same run.
//
//   build/bench/train_step_bench
//
// Counters: samples/s, and GFLOP/s = GEMM FLOPs issued (forward and backward,
// counted by ops::gemm_batched) per second. The step's GFLOP/s divided by
// BM_Sgemm's is the share of the machine's GEMM rate the whole step reaches.
#include <benchmark/benchmark.h>

#include <vector>

#include "clip/train/loss.h"
#include "clip/model/model.h"
#include "nn/optim.h"
#include "tensor/cpu/gemm.h"

using namespace clipgrad;

namespace {

// ViT width 128, 4 layers, 32 px images in 4 px patches; text width 128,
// 4 layers, context 32, the real 49408-token vocabulary.
clip::ClipConfig bench_config() {
  clip::ClipConfig config;
  config.embed_dim = 128;
  config.image_resolution = 32;
  config.vision_layers = {4};
  config.vision_width = 128;
  config.vision_patch_size = 4;
  config.vision_heads = 2;
  config.context_length = 32;
  config.vocab_size = 49408;
  config.transformer_width = 128;
  config.transformer_heads = 2;
  config.transformer_layers = 4;
  return config.resolved();
}

void BM_Sgemm(benchmark::State& state) {
  int64_t n = state.range(0);
  Generator generator(1);
  Tensor a = Tensor::empty({n, n}), b = Tensor::empty({n, n}), c = Tensor::zeros({n, n});
  fill_normal(a, 0, 1, generator);
  fill_normal(b, 0, 1, generator);
  for (auto _ : state) {
    cpu::blas_gemm<float>(false, false, n, n, n, 1.0f, a.data<float>(), b.data<float>(), 0.0f, c.data<float>());
    benchmark::DoNotOptimize(c.data<float>());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Sgemm)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TrainStep(benchmark::State& state) {
  int64_t batch = state.range(0);
  clip::ClipConfig config = bench_config();
  clip::ClipModel model(config);
  Generator generator(0);
  model.init_openai(generator);
  model.train();
  nn::AdamW optimizer(nn::clip_param_groups(model.named_parameters(), 0.1), 1e-4, 0.9, 0.98, 1e-6);

  Tensor pixels = Tensor::empty({batch, 3, config.image_resolution, config.image_resolution});
  fill_normal(pixels, 0, 1, generator);
  std::vector<int32_t> ids(batch * config.context_length, 0);
  for (int64_t i = 0; i < batch; ++i) {
    int64_t length = 8 + i % 16;  // captions of 8..23 tokens, EOT last
    ids[i * config.context_length] = 49406;
    for (int64_t t = 1; t < length - 1; ++t) ids[i * config.context_length + t] = 1 + generator.below(49000);
    ids[i * config.context_length + length - 1] = 49407;
  }
  Tensor tokens = Tensor::from_vector<int32_t>({batch, config.context_length}, ids);

  uint64_t flops_before = cpu::blas_flops_issued();
  for (auto _ : state) {
    Variable loss =
        clip::contrastive_loss(model.encode_image(Variable(pixels)), model.encode_text(tokens), model.logit_scale).loss;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.value().raw_data());
  }
  double flops = static_cast<double>(cpu::blas_flops_issued() - flops_before);
  state.counters["samples/s"] = benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/step"] = flops / 1e9 / state.iterations();
}
BENCHMARK(BM_TrainStep)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace

int main(int argc, char** argv) {
  cpu::use_fast_blas_kernels(argv);  // tensor/blas.h: as the clipgrad binary does
  benchmark::AddCustomContext("openblas_kernel", cpu::blas_kernel_name());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
