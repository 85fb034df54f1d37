// The epoch loop both trainers share: the schedule's learning rate per global step, the
// metrics line (common fields and the caller's), declined batches, and the finite-loss check.
#include "clip/train/train_loop.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/image.h"
#include "nn/optim.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

// `count` flat 8x8 images, in order (no shuffle), two per batch.
Loader make_loader(const TempDir& dir, int count) {
  std::vector<std::string> paths;
  for (int i = 0; i < count; ++i) {
    std::vector<uint8_t> pixels(8 * 8 * 3, static_cast<uint8_t>(10 * i));
    paths.push_back(dir.file("img" + std::to_string(i) + ".png"));
    io::write_png(paths.back(), 8, 8, 3, pixels.data());
  }
  return Loader(loader_items(paths), LoaderOptions{.batch_size = 2, .image_size = 8, .workers = 0, .shuffle = false});
}

TEST(TrainLoop, EachStepTakesItsScheduledRateAndLogsOneLine) {
  TempDir dir("train_loop");
  Loader loader = make_loader(dir, 6);
  std::ostringstream metrics;
  std::vector<StepReport> reports;
  const EpochLoop loop{.epoch = 1,
                       .epochs = 2,
                       .batches = 3,
                       .schedule = {.peak = 0.1, .warmup_steps = 2, .total_steps = 6},
                       .metrics = &metrics,
                       .metrics_fields = [](const StepReport& report,
                                            nlohmann::json& line) { line["part"] = report.loss_parts.at("part"); },
                       .on_step = [&](const StepReport& report) { reports.push_back(report); }};
  int64_t step = 3;  // the second epoch of a run of 3 batches per epoch
  std::vector<double> rates;
  const int64_t samples = run_epoch(loader, loop, step, [&](const Batch& batch, double lr) {
    rates.push_back(lr);
    const double rows = static_cast<double>(batch.indices.size());
    return StepResult{.loss = rows + lr, .rows = 2, .logit_scale = 1.5, .loss_parts = {{"part", rows}}};
  });
  EXPECT_EQ(samples, 6);
  EXPECT_EQ(step, 6);
  ASSERT_EQ(rates.size(), 3u);
  for (int64_t s = 3; s < 6; ++s) EXPECT_EQ(rates[s - 3], nn::warmup_cosine_lr(0.1, s, 2, 6)) << s;
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].epoch, 2);
  EXPECT_EQ(reports[0].batch, 1);
  EXPECT_EQ(reports[2].batch, 3);
  EXPECT_EQ(reports[2].batches, 3);
  EXPECT_EQ(reports[2].step, 5);
  EXPECT_EQ(reports[2].logit_scale, 1.5);
  std::istringstream lines(metrics.str());
  std::string line;
  for (int64_t s = 3; s < 6; ++s) {
    ASSERT_TRUE(std::getline(lines, line));
    const nlohmann::json entry = nlohmann::json::parse(line);
    EXPECT_EQ(entry, (nlohmann::json{{"epoch", 2},
                                     {"step", s},
                                     {"loss", 2 + rates[s - 3]},
                                     {"lr", rates[s - 3]},
                                     {"skipped", 0},
                                     {"part", 2.0}}));
  }
  EXPECT_FALSE(std::getline(lines, line));
}

TEST(TrainLoop, ADeclinedBatchIsNoStep) {
  TempDir dir("train_loop");
  Loader loader = make_loader(dir, 6);
  int64_t step = 0;
  int calls = 0;
  const EpochLoop loop{.schedule = {.peak = 0.1, .warmup_steps = 0, .total_steps = 3}};
  const int64_t samples = run_epoch(loader, loop, step, [&](const Batch&, double) -> std::optional<StepResult> {
    if (calls++ == 1) return std::nullopt;
    return StepResult{.loss = 1, .rows = 2};
  });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(step, 2);
  EXPECT_EQ(samples, 4);
}

TEST(TrainLoop, ANonFiniteLossStopsTheRunNamingTheStep) {
  TempDir dir("train_loop");
  Loader loader = make_loader(dir, 4);
  std::ostringstream metrics;
  int64_t step = 7;
  const EpochLoop loop{.schedule = {.peak = 0.1, .warmup_steps = 0, .total_steps = 10},
                       .metrics = &metrics,
                       .error_prefix = "finetune-supervised: ",
                       .advice = "lower --lr"};
  try {
    run_epoch(loader, loop, step, [](const Batch&, double) {
      return StepResult{.loss = std::numeric_limits<double>::quiet_NaN(), .rows = 2};
    });
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()), "finetune-supervised: loss is nan at step 7; lower --lr");
  }
  EXPECT_EQ(step, 7);
  EXPECT_EQ(metrics.str(), "");
}

}  // namespace
}  // namespace clipgrad::clip
