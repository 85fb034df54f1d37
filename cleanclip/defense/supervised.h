// The supervised defence: fine-tune the vision encoder and a linear head with
// cross-entropy on clean labelled images (CleanCLIP's "supervised
// fine-tuning", src/evaluate.py get_finetune_metrics, run as a defence).
//
//   SupervisedOptions options;  // the reference: 10 epochs, lr 1e-4, 500 warmup steps, cosine
//   finetune_supervised("poisoned/model.safetensors", "clean/labels.csv", "classes.json", "runs/sup", options);
//   SupervisedModel result = load_supervised_checkpoint("runs/sup/model.safetensors");
//
// What is trained: every visual.* parameter and the head (classifier_head.h:
// on L2-normalised features, initialised as the zero-shot classifier). The
// text tower, token embedding, positional embedding, text_projection and
// logit_scale are frozen (requires_grad off during the run, and not in the
// optimiser), so they leave the run bit-identical. The model is in train mode
// (a ModifiedResNet's BatchNorm statistics update, as in the reference).
// Images get CLIP's plain preprocessing, no augmentation (as the reference's
// eval_train loader). AdamW as torch.optim.AdamW's defaults (betas 0.9/0.999,
// eps 1e-8), with CLIP's no-decay rule (nn::clip_param_groups: no decay on
// biases, gains and norms; the head's bias included) and weight decay 0.01 on
// the rest, the reference's value for this fine-tune; linear warmup, then
// cosine to zero (nn::warmup_cosine_lr) over epochs x batches steps.
//
// The output directory gets:
//   model.safetensors  the model and its head (save_supervised_checkpoint), written
//                      atomically once training is done
//   metrics.jsonl      one JSON object per step: epoch (1-based), step (0-based),
//                      loss, lr, batch_top1, skipped (images skipped so far in the
//                      epoch), each line written whole and flushed
// The same seed, data and model give the same losses and weights, bit for bit
// on CPU, whatever the worker count.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cleanclip/defense/classifier_head.h"
#include "clip/data/dataset.h"
#include "clip/model/model.h"
#include "clip/train/train_loop.h"

namespace clipgrad::cleanclip {

struct SupervisedOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-4;
  double weight_decay = 0.01;
  int64_t warmup_steps = 500;
  uint64_t seed = 0;    // the epochs' shuffles
  int workers = 2;      // image decoding threads
  bool strict = false;  // a missing or corrupt image fails the run instead of being skipped
  std::string image_key = "image", label_key = "label";  // CSV columns

  nlohmann::json to_json() const;
};

// Progress after each step: the report of the loop both trainers share
// (clip/train/train_loop.h), so the CLI's progress bar and the report's plots take both;
// logit_scale is the frozen model's exp(logit_scale), loss_parts holds
// "batch_top1" (the step's training accuracy, before the update).
using SupervisedStep = clip::StepReport;
using SupervisedStepFn = std::function<void(const SupervisedStep&)>;

// The in-memory loop: trains `model` and `head` in place on `data` (labels
// must be class indices below head.classes.size(); a row outside throws naming
// its CSV line), writing a metrics line per step to `metrics` (may be null).
// Returns the number of optimiser steps taken.
int64_t train_supervised(clip::ClipModel& model, ClassifierHead& head, const clip::LabelledDataset& data,
                         const SupervisedOptions& options, std::ostream* metrics = nullptr,
                         const SupervisedStepFn& on_step = nullptr);

// The whole defence from files: loads the CLIP checkpoint (clip::load_clip),
// the labelled CSV and the classes JSON, starts the head at zero-shot, trains,
// and writes OUT_DIR/model.safetensors and OUT_DIR/metrics.jsonl (above).
// Returns the checkpoint's path.
std::string finetune_supervised(const std::string& model_path, const std::string& labels_csv,
                                const std::string& classes_json, const std::string& out_dir,
                                const SupervisedOptions& options = {}, const SupervisedStepFn& on_step = nullptr);

}  // namespace clipgrad::cleanclip
