// Contrastive training of a ClipModel on image-caption pairs, with per-epoch
// resumable checkpoints.
//
// A run directory holds:
//   checkpoint.safetensors  the latest completed epoch: "model.<name>" (OpenAI
//                           names), "optim.<key>" (AdamW state); metadata holds
//                           the config, options, epoch, step and RNG state
//   model.safetensors       the latest model alone, OpenAI layout (for eval, dump)
//   metrics.jsonl           one JSON object per step
// Every file is written atomically (temp file, then rename), so a run killed at
// any point resumes from its last completed epoch, bit-identically on CPU.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "clip/data/dataset.h"
#include "clip/model/model.h"
#include "clip/text/tokenizer.h"
#include "nn/optim.h"

namespace clipgrad::clip {

struct TrainOptions {
  int64_t epochs = 5;
  int64_t batch_size = 256;
  double lr = 5e-4;
  double weight_decay = 0.1;
  int64_t warmup_steps = 100;
  double grad_clip_norm = 0;  // 0: no clipping
  uint64_t seed = 0;
  int workers = 2;            // image decoding threads
  bool strict = false;        // a missing or corrupt image fails the run
  // CSV layout of the training data.
  std::string image_key = "image", caption_key = "caption";
  char delimiter = ',';

  nlohmann::json to_json() const;
  static TrainOptions from_json(const nlohmann::json& json);
};

// One line of progress, after each step.
struct StepReport {
  int64_t epoch = 0, epochs = 0;
  int64_t batch = 0, batches = 0;  // within the epoch, 1-based
  int64_t step = 0;                // global, 0-based
  int64_t batch_size = 0;
  double loss = 0, lr = 0, logit_scale = 0, samples_per_second = 0;
  int64_t skipped = 0;             // images skipped so far in this epoch
};

class Trainer {
 public:
  // A new run: model and data given; writes into run_dir (created).
  Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options,
          std::string run_dir);
  // Continues the run in run_dir from its last completed epoch.
  static Trainer resume(const std::string& run_dir);

  // Trains the remaining epochs; calls on_step after every step.
  void run(const std::function<void(const StepReport&)>& on_step = nullptr);

  ClipModel& model() { return *model_; }
  int64_t completed_epochs() const { return epoch_; }
  int64_t step() const { return step_; }

 private:
  Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options,
          std::string run_dir, bool fresh);
  double train_step(const Tensor& pixels, const Tensor& tokens);
  void save_checkpoint() const;
  void load_checkpoint();

  std::shared_ptr<ClipModel> model_;
  std::string train_csv_;
  TrainOptions options_;
  std::string run_dir_;
  ImageCaptionDataset data_;
  Tensor tokens_;  // i32 [rows, context_length]: every caption, tokenised once
  std::unique_ptr<nn::AdamW> optimizer_;
  Generator generator_;
  int64_t epoch_ = 0;  // completed epochs
  int64_t step_ = 0;   // completed steps
};

}  // namespace clipgrad::clip
