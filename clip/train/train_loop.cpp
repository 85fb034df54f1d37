#include "clip/train/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "nn/optim.h"

namespace clipgrad::clip {

int64_t run_epoch(BatchSource& loader, const EpochLoop& loop, int64_t& step, const StepFn& train_step) {
  loader.start_epoch(loop.epoch, loop.first_batch);
  const auto epoch_start = std::chrono::steady_clock::now();
  int64_t samples = 0;
  for (Batch batch; loader.next(batch);) {
    const LearningRateSchedule& schedule = loop.schedule;
    const double lr = nn::warmup_cosine_lr(schedule.peak, step, schedule.warmup_steps, schedule.total_steps);
    const std::optional<StepResult> result = train_step(batch, lr);
    if (!result) continue;
    if (!std::isfinite(result->loss))
      throw std::runtime_error(loop.error_prefix + "loss is " + std::to_string(result->loss) + " at step " +
                               std::to_string(step) + "; " + loop.advice);
    samples += result->rows;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    const StepReport report{.epoch = loop.epoch + 1,
                            .epochs = loop.epochs,
                            .batch = batch.number + 1,
                            .batches = loop.batches,
                            .step = step,
                            .batch_size = result->rows,
                            .loss = result->loss,
                            .lr = lr,
                            .logit_scale = result->logit_scale,
                            .samples_per_second = samples / std::max(seconds, 1e-9),
                            .skipped = loader.skipped_in_epoch(),
                            .data_wait_ms = 1000 * batch.wait_seconds,
                            .loss_parts = result->loss_parts};
    if (loop.metrics) {
      nlohmann::json line{{"epoch", report.epoch},
                          {"step", report.step},
                          {"loss", report.loss},
                          {"lr", report.lr},
                          {"skipped", report.skipped}};
      if (loop.metrics_fields) loop.metrics_fields(report, line);
      *loop.metrics << line.dump() + "\n" << std::flush;
      if (!*loop.metrics)
        throw std::runtime_error("cannot write the metrics of step " + std::to_string(step) +
                                 (loop.metrics_path.empty() ? "" : " to '" + loop.metrics_path + "'") +
                                 " (disk full?)");
    }
    ++step;
    if (loop.after_step) loop.after_step(batch);
    if (loop.on_step) loop.on_step(report);
  }
  return samples;
}

}  // namespace clipgrad::clip
