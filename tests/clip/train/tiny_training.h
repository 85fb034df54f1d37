// What the training tests of vit-tiny-28 share: a 16-image dataset, the
// model with a fixed init, 20-step options (2 steps an epoch), and the run's losses.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "clip/train/trainer.h"
#include "io/image.h"
#include "tensor/random.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {

// 16 images of noise-free shapes and shades, captioned by their shade.
inline std::string make_dataset(const testing::TempDir& dir) {
  std::ofstream csv(dir.file("train.csv"));
  csv << "image,caption\n";
  for (int i = 0; i < 16; ++i) {
    std::vector<uint8_t> pixels(28 * 28 * 3);
    for (size_t p = 0; p < pixels.size(); ++p)
      pixels[p] = static_cast<uint8_t>((20 + 13 * i + (p % 28 < 14 ? 60 : 0)) % 256);
    io::write_png(dir.file("img" + std::to_string(i) + ".png"), 28, 28, 3, pixels.data());
    csv << "img" << i << ".png,a photo of shade " << i << "\n";
  }
  return dir.file("train.csv");
}

inline std::shared_ptr<ClipModel> tiny_model() {
  auto model = std::make_shared<ClipModel>(ClipConfig::named("vit-tiny-28"));
  Generator generator(1);
  model->init_openai(generator);
  return model;
}

inline TrainOptions tiny_options(Device device) {
  TrainOptions options;
  options.epochs = 10;  // 2 steps each: 20 steps
  options.batch_size = 8;
  options.lr = 1e-3;
  options.warmup_steps = 2;
  options.grad_clip_norm = 1.0;  // exercises sum_squares_of and scale on the device
  options.seed = 4;
  options.workers = 1;
  options.device = device;
  return options;
}

inline std::vector<double> train_losses(Trainer& trainer) {
  std::vector<double> losses;
  trainer.run([&](const StepReport& report) { losses.push_back(report.loss); });
  return losses;
}

// A run of `options` in `run_dir` stopped at step 4, as a kill would stop it
// (with the 2-step epochs of tiny_options: mid epoch 3, epochs 1 and 2 checkpointed).
inline void train_until_killed_at_step_4(const std::string& csv, const TrainOptions& options,
                                         const std::string& run_dir) {
  Trainer killed(tiny_model(), csv, options, run_dir);
  struct Kill {};
  EXPECT_THROW(killed.run([](const StepReport& report) {
    if (report.step == 4) throw Kill{};
  }),
               Kill);
}

}  // namespace clipgrad::clip
