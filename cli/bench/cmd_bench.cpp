// clipgrad bench --model vit-b-32|rn50|... --batch 256 --precision fp32|tf32|bf16 --device cpu|cuda
//
// Times whole training steps of a named CLIP config on synthetic data:
// forward of both towers and the CLIP loss, backward, AdamW (CLIP's
// settings: betas 0.9/0.98, eps 1e-6, weight decay 0.2 off the gains and
// biases; --grad-clip to clip the gradients' norm first), after warm-up steps
// that also let cuBLASLt and cuDNN pick their algorithms. Reports samples/s,
// the mean split forward / backward / optimizer, and the peak memory, and under
// the SIMT emulator the launches and host waits per step; --json writes the
// same for bench/device_check.sh.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/bench/bench_command.h"
#include "tensor/precision.h"
#include "cli/bench/step_clock.h"
#include "cli/support/checked_options.h"
#include "clip/model/model.h"
#include "clip/train/loss.h"
#include "io/atomic_file.h"
#include "nn/optim.h"
#include "tensor/ops/linalg.h"
#include "tensor/random.h"

namespace clipgrad::cli {

namespace {

struct BenchOptions {
  std::string model = "vit-b-32", precision = "fp32", device = "cuda", json;
  int64_t batch = 256;
  int steps = 10, warmup = 3;
  bool grad_checkpointing = false;
  double grad_clip = 0;   // 0: no clipping
  DataBenchOptions data;  // --data: the input pipeline instead
};

// The process's peak resident memory (the CPU's "peak memory": every allocation counts).
size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;
}

struct BenchResult {
  double samples_per_second = 0, forward_ms = 0, backward_ms = 0, optimizer_ms = 0, step_ms = 0;
  double peak_memory_mib = 0;
  bool counted = false;  // under the emulator: device work per timed step
  double launches_per_step = 0, host_waits_per_step = 0;
};

// Captures of 8..23 tokens (SOT, random ids, EOT), padded with zeros to the context length.
Tensor synthetic_tokens(const clip::ClipConfig& config, int64_t batch, Generator& generator) {
  const int64_t context = config.context_length;
  std::vector<int32_t> ids(batch * context, 0);
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t length = std::min<int64_t>(context, 8 + i % 16);
    ids[i * context] = int32_t(config.vocab_size - 2);
    for (int64_t t = 1; t < length - 1; ++t) ids[i * context + t] = int32_t(1 + generator.below(config.vocab_size - 3));
    ids[i * context + length - 1] = int32_t(config.vocab_size - 1);
  }
  return Tensor::from_vector<int32_t>({batch, context}, ids);
}

BenchResult run_bench(const BenchOptions& options) {
  const Device device = options.device == "cuda" ? Device::CUDA : Device::CPU;
  if (device == Device::CUDA && !cuda_device_present())
    throw std::runtime_error("bench: no CUDA device (no GPU, no driver, or a build without CUDA); use --device cpu");
  if (options.batch < 2 || options.steps < 1 || options.warmup < 0)
    throw std::invalid_argument("bench: needs --batch >= 2, --steps >= 1 and --warmup >= 0");
  set_precision(parse_precision(options.precision));
  const size_t memory_before = device_memory_in_use(device);

  const clip::ClipConfig config = clip::ClipConfig::named(options.model);
  clip::ClipModel model(config);
  Generator generator(0);
  model.init_openai(generator);
  model.to(device);
  model.train();
  model.set_grad_checkpointing(options.grad_checkpointing);
  nn::AdamW optimizer(nn::clip_param_groups(model.named_parameters(), 0.2), 5e-4, 0.9, 0.98, 1e-6);
  Tensor pixels = Tensor::empty({options.batch, 3, config.image_resolution, config.image_resolution});
  fill_normal(pixels, 0, 1, generator);
  pixels = pixels.to(device);
  const Tensor tokens = model.trim_tokens(synthetic_tokens(config, options.batch, generator)).to(device);

  // marks: 0 start, 1 after forward + loss, 2 after backward, 3 after the optimizer step
  StepClock clock(device, 4);
  BenchResult result;
  size_t peak = 0;
  for (int step = 0; step < options.warmup + options.steps; ++step) {
    const DeviceWork work_before = device_work();
    clock.mark(0);
    Variable loss =
        clip::contrastive_loss(model.encode_image(Variable(pixels)), model.encode_text(tokens), model.logit_scale).loss;
    clock.mark(1);
    peak = std::max(peak, device_memory_in_use(device));
    optimizer.zero_grad();
    loss.backward();
    clock.mark(2);
    peak = std::max(peak, device_memory_in_use(device));
    Tensor grad_scale;  // the clip coefficient, on the device
    if (options.grad_clip > 0) grad_scale = nn::clip_coefficient(model.parameters(), options.grad_clip).coefficient;
    optimizer.step(grad_scale);
    clock.mark(3);
    const DeviceWork work_after = device_work();  // before elapsed_ms, which waits for the marks
    const double step_ms = clock.elapsed_ms(0, 3);
    if (step < options.warmup) continue;
    result.counted = work_after.counted;
    result.launches_per_step += double(work_after.launches - work_before.launches) / options.steps;
    result.host_waits_per_step += double(work_after.host_waits - work_before.host_waits) / options.steps;
    result.forward_ms += clock.elapsed_ms(0, 1) / options.steps;
    result.backward_ms += clock.elapsed_ms(1, 2) / options.steps;
    result.optimizer_ms += clock.elapsed_ms(2, 3) / options.steps;
    result.step_ms += step_ms / options.steps;
  }
  result.samples_per_second = double(options.batch) / (result.step_ms / 1000);
  result.peak_memory_mib = device == Device::CPU ? double(peak_rss_bytes()) / (1 << 20)
                                                 : double(peak > memory_before ? peak - memory_before : 0) / (1 << 20);
  return result;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Time full CLIP training steps (forward, loss, backward, AdamW) of a named config on synthetic data");
  command->add_option("--model", options->model, "named config: vit-b-32, vit-b-16, rn50, vit-tiny-28, ...")
      ->capture_default_str();
  command->add_option("--batch", options->batch, "samples per step")
      ->capture_default_str()
      ->check(integer_in(1, kMaxBatch));
  add_precision_option(command, options->precision);
  command->add_option("--device", options->device, "cuda or cpu")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  command->add_option("--steps", options->steps, "timed steps")->capture_default_str()->check(integer_in(1, 1 << 20));
  command->add_option("--warmup", options->warmup, "untimed steps first")
      ->capture_default_str()
      ->check(integer_in(0, 1 << 20));
  command->add_option("--grad-clip", options->grad_clip, "clip the gradients' 2-norm to this (0: no clipping)")
      ->capture_default_str()
      ->check(real_in(0, std::numeric_limits<double>::infinity()));
  command->add_option("--json", options->json, "also write the result as JSON to this file")->check(output_path());
  command->add_flag("--grad-checkpointing", options->grad_checkpointing,
                    "recompute each transformer block in backward (peak memory: the allocator's on CUDA, RSS on CPU)");
  command->add_option(
      "--data", options->data.data,
      "time the input pipeline instead: JPEG shards to CLIP tensors (brace pattern, glob, folder, list)");
  command->add_option("--workers", options->data.workers, "--data: decoding threads (at least 1)")
      ->capture_default_str()
      ->check(worker_count());
  command->add_option("--image-size", options->data.image_size, "--data: the tensors' side")
      ->capture_default_str()
      ->check(integer_in(1, 8192));
  command->add_option("--images", options->data.images, "--data: at most this many images (0: all)")
      ->check(integer_in(0, int64_t{1} << 40));
  command
      ->add_option("--compare", options->data.compare,
                   "--data: compare the DCT-scaled and exact decodes of this many images (pixel levels)")
      ->check(integer_in(0, int64_t{1} << 40));
  command->callback([options] {
    if (!options->data.data.empty()) {
      options->data.json = options->json;
      return run_data_bench(options->data);
    }
    const BenchResult r = run_bench(*options);
    std::cout << std::fixed << std::setprecision(1) << "bench " << options->model << " batch " << options->batch << " "
              << options->precision << " on " << options->device << ": " << r.samples_per_second << " samples/s, step "
              << r.step_ms << " ms (forward + loss " << r.forward_ms << ", backward " << r.backward_ms << ", optimizer "
              << r.optimizer_ms << "), peak memory " << r.peak_memory_mib
              << (options->device == "cpu" ? " MiB (process RSS)" : " MiB (allocator)")
              << (options->grad_checkpointing ? ", gradient checkpointing" : "") << "\n";
    if (r.counted)
      std::cout << "emulated device work per step: " << r.launches_per_step << " launches (kernels and library calls), "
                << r.host_waits_per_step << " host waits\n";
    if (options->json.empty()) return;
    nlohmann::json json = {{"model", options->model},
                           {"batch", options->batch},
                           {"precision", options->precision},
                           {"device", options->device},
                           {"samples_per_s", r.samples_per_second},
                           {"step_ms", r.step_ms},
                           {"forward_ms", r.forward_ms},
                           {"backward_ms", r.backward_ms},
                           {"optimizer_ms", r.optimizer_ms},
                           {"peak_memory_mib", r.peak_memory_mib}};
    if (r.counted) {
      json["launches_per_step"] = r.launches_per_step;
      json["host_waits_per_step"] = r.host_waits_per_step;
    }
    io::write_file_atomic(options->json, json.dump(2) + "\n");
  });
}

}  // namespace clipgrad::cli
