// The loop every trainer runs (the contrastive Trainer, and cleanclip's supervised
// defence): one epoch of a loader's batches, each step at the warmup-cosine learning rate
// of its global step, its loss checked finite, one metrics line written whole and flushed
// (a kill tears at most the last line), and a StepReport for the progress bar. What a step
// computes is the caller's:
//
//   EpochLoop loop{.epoch = epoch, .epochs = epochs, .batches = batches, .schedule = schedule,
//                  .metrics = &metrics_file, .on_step = on_step};
//   int64_t samples = run_epoch(loader, loop, step, [&](const Batch& batch, double lr) {
//     optimizer.set_lr(lr);
//     ... forward, backward, optimizer step ...
//     return StepResult{.loss = loss, .rows = rows, .logit_scale = scale};
//   });
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "clip/data/loader.h"

namespace clipgrad::clip {

// One line of progress, after each step.
struct StepReport {
  int64_t epoch = 0, epochs = 0;
  int64_t batch = 0, batches = 0;  // within the epoch, 1-based
  int64_t step = 0;                // global, 0-based
  int64_t batch_size = 0;
  double loss = 0, lr = 0, logit_scale = 0, samples_per_second = 0;
  int64_t skipped = 0;                       // images skipped so far in this epoch
  double data_wait_ms = 0;                   // how long this step waited for its batch
  std::map<std::string, double> loss_parts;  // every loss part but "total"
};

// What one optimisation step hands back to the loop.
struct StepResult {
  double loss = 0;                           // the total: checked finite, logged as "loss"
  int64_t rows = 0;                          // samples in the batch (every rank's, when data parallel)
  double logit_scale = 0;                    // exp(logit_scale), for the report
  std::map<std::string, double> loss_parts;  // for the report (and the metrics line, as the caller writes it)
};

// Linear warmup, then cosine to zero at the last step (nn::warmup_cosine_lr).
struct LearningRateSchedule {
  double peak = 0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
};

struct EpochLoop {
  int64_t epoch = 0;        // 0-based: the loader's shuffle is this epoch's
  int64_t first_batch = 0;  // a resumed epoch starts here
  int64_t epochs = 0;       // for the report
  int64_t batches = 0;      // per epoch, for the report
  LearningRateSchedule schedule;
  std::ostream* metrics = nullptr;  // metrics.jsonl (null: none written)
  std::string metrics_path;         // its path, for the error when a write fails
  // The metrics line's fields beyond "epoch", "step", "loss", "lr" and "skipped".
  std::function<void(const StepReport&, nlohmann::json& line)> metrics_fields;
  std::function<void(const StepReport&)> on_step;  // after each step (may be null)
  // A non-finite loss throws "<error_prefix>loss is nan at step 12; <advice>".
  std::string error_prefix;
  std::string advice = "lower --lr";
  // After each step, once its metrics line is written (a mid-epoch checkpoint); may be null.
  std::function<void(const Batch&)> after_step = nullptr;
};

// One step of a batch at learning rate lr; std::nullopt when the step declines the batch
// (it then counts as no step).
using StepFn = std::function<std::optional<StepResult>(Batch& batch, double lr)>;

// Runs epoch loop.epoch of `loader` (start_epoch included), one train_step per batch;
// `step` (global, 0-based) advances by one per step taken. Returns the samples trained on.
int64_t run_epoch(BatchSource& loader, const EpochLoop& loop, int64_t& step, const StepFn& train_step);

}  // namespace clipgrad::clip
