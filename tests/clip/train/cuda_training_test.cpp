// Training vit-tiny-28 on CUDA: 20 steps whose losses track the CPU run's,
// and a run killed mid-epoch and resumed on CUDA that ends with the same bits
// (losses and every parameter) as the uninterrupted run, which also shows
// that a CUDA training step is deterministic. Skips without a GPU.
#include "clip/train/trainer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "test_temp_dir.h"
#include "tiny_training.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif
#ifdef CLIPGRAD_CUDA_EMULATE
#include "clip/train/objective.h"
#include "cuda/emulator/counters.h"
#include "nn/optim.h"
#include "tensor/random.h"
#endif

namespace clipgrad::clip {
namespace {

using testing::TempDir;

void skip_unless_cuda_training_possible() {
#ifndef CLIPGRAD_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
#endif
}

TEST(CudaTraining, TwentyStepsTrackTheCpuRun) {
  skip_unless_cuda_training_possible();
  if (IsSkipped()) return;
  TempDir dir("cuda_training_track");
  const std::string csv = make_dataset(dir);
  Trainer on_cpu(tiny_model(), csv, tiny_options(Device::CPU), dir.file("cpu"));
  Trainer on_cuda(tiny_model(), csv, tiny_options(Device::CUDA), dir.file("cuda"));
  const std::vector<double> cpu = train_losses(on_cpu), cuda = train_losses(on_cuda);
  ASSERT_EQ(cpu.size(), 20u);
  ASSERT_EQ(cuda.size(), cpu.size());
  for (size_t step = 0; step < cpu.size(); ++step) EXPECT_NEAR(cuda[step], cpu[step], 1e-3) << "step " << step;
  EXPECT_EQ(on_cuda.model().logit_scale.value().device(), Device::CUDA);
}

TEST(CudaTraining, ResumeAfterAKillGivesTheUninterruptedBits) {
  skip_unless_cuda_training_possible();
  if (IsSkipped()) return;
  TempDir dir("cuda_training_resume");
  const std::string csv = make_dataset(dir);
  TrainOptions options = tiny_options(Device::CUDA);
  options.epochs = 3;
  Trainer whole(tiny_model(), csv, options, dir.file("whole"));
  const std::vector<double> whole_losses = train_losses(whole);

  train_until_killed_at_step_4(csv, options, dir.file("killed"));
  Trainer resumed = Trainer::resume(dir.file("killed"));
  EXPECT_EQ(resumed.model().logit_scale.value().device(), Device::CUDA);
  const std::vector<double> resumed_losses = train_losses(resumed);
  ASSERT_EQ(resumed_losses.size(), 2u);
  EXPECT_EQ(resumed_losses[0], whole_losses[4]);
  EXPECT_EQ(resumed_losses[1], whole_losses[5]);
  const nn::StateDict expected = whole.model().state_dict(), actual = resumed.model().state_dict();
  for (const auto& [name, value] : expected) {
    const Tensor a = value.to(Device::CPU), b = actual.at(name).to(Device::CPU);
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << name;
  }
}

#ifdef CLIPGRAD_CUDA_EMULATE
// A batch of 8 on the device: noise images, and captions of 3 to 10 tokens
// (start, ids, EOT) cut on the host to the last EOT, as the trainer cuts them.
TrainBatch device_batch(const ClipModel& model) {
  Generator generator(5);
  Tensor pixels = Tensor::empty({8, 3, 28, 28});
  fill_normal(pixels, 0, 1, generator);
  const int64_t context = model.config().context_length;
  std::vector<int32_t> ids(8 * context, 0);
  for (int64_t n = 0; n < 8; ++n) {
    const int64_t length = 3 + n;
    ids[n * context] = 49406;
    for (int64_t t = 1; t < length - 1; ++t) ids[n * context + t] = static_cast<int32_t>(1 + generator.below(1000));
    ids[n * context + length - 1] = 49407;
  }
  const Tensor tokens = model.trim_tokens(Tensor::from_vector<int32_t>({8, context}, ids));
  return TrainBatch{.images = {pixels.to(Device::CUDA)}, .tokens = {tokens.to(Device::CUDA)}, .rows = {}, .global = {}};
}

// The device work of a training step (the trainer's train_step without its
// logging reads), counted by the emulator on the second step (the first
// uploads the causal mask, which later steps reuse):
// - forward and backward never wait for the device and copy nothing either
//   way: the EOT argmax, the causal mask, backward's seed and the contrastive
//   loss's gradient stay on the device, the device index tensors are checked
//   by their kernels (cuda/bad_indices.h) and embedding_backward groups the
//   ids on the device (tensor/cuda/indexing.cu);
// - clipping and AdamW wait for nothing: the norm, the clip coefficient and
//   the update are 3 + 1 + 1 launches for all parameters, AdamW one of them.
TEST(CudaTraining, AStepWaitsForNothingAndAdamWIsOneLaunch) {
  skip_unless_cuda_training_possible();
  if (IsSkipped()) return;
  namespace emu = cuda::emulator;
  std::shared_ptr<ClipModel> model = tiny_model();
  model->to(Device::CUDA);
  model->train();
  nn::AdamW optimizer(nn::clip_param_groups(model->named_parameters(), 0.1), 1e-3);
  const TrainBatch batch = device_batch(*model);
  const ClipObjective objective;
  for (int step = 0; step < 2; ++step) {
    const emu::Counters start = emu::counters();
    forward_backward(*model, objective, batch);
    const emu::Counters after_backward = emu::counters();
    const Tensor coefficient = nn::clip_coefficient(model->parameters(), 1.0).coefficient;
    const emu::Counters after_clip = emu::counters();
    optimizer.step(coefficient);
    const emu::Counters end = emu::counters();
    if (step == 0) continue;
    EXPECT_EQ((after_backward - start).host_waits, 0u);
    EXPECT_EQ((after_backward - start).device_to_host_copies, 0u);
    EXPECT_EQ((after_backward - start).host_to_device_copies, 0u);
    EXPECT_EQ((after_clip - after_backward).host_waits, 0u);
    EXPECT_EQ((after_clip - after_backward).launches(), 4u);
    EXPECT_EQ((end - after_clip).host_waits, 0u);
    EXPECT_EQ((end - after_clip).launches(), 1u);
    EXPECT_LT(model->parameters().size(), size_t(ops::kAdamWParamsPerLaunch));
  }
}
#endif

}  // namespace
}  // namespace clipgrad::clip
