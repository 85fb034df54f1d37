// Contrastive training of a ClipModel on image-caption pairs, with per-epoch
// resumable checkpoints.
//
// A run directory holds:
//   checkpoint.safetensors  the latest completed epoch: "model.<name>" (OpenAI
//                           names), "optim.<key>" (AdamW state); metadata holds
//                           the config, options, epoch, step and RNG state
//   model.safetensors       the latest model alone, OpenAI layout (for eval, dump)
//   metrics.jsonl           one JSON object per step, each line written whole and
//                           flushed: "loss" (the total) and "loss_<part>" for
//                           every other part the objective names
// The checkpoints are written atomically (temp file, then rename), so a run
// killed at any point resumes from its last completed epoch, bit-identically
// on CPU (and on one CUDA device: its kernels are deterministic too); a torn
// last metrics line (a kill mid-write) is dropped on resume.
//
// What is optimised is an Objective (clip/train/objective.h); its image views
// come from one decode per image, and its token tables are drawn per batch.
//
// Data parallel (a world of N > 1 processes, distributed/): batch_size is per
// process and the global batch is N x batch_size. The data order is the
// single-process order at the global batch (one seeded shuffle); each global
// batch is cut into N contiguous slices and rank r decodes only slice r. The
// loss is that of the global batch (GlobalBatch: gathered features, or
// local_loss); gradients are averaged over the ranks in buckets that start
// during backward (distributed::GradientBuckets), or, with zero_stage 1,
// reduce-scattered into the segments each rank updates with its share of
// AdamW's state (clip/train/zero_optimizer.h). Every rank starts from rank 0's
// weights and takes the same steps; BatchNorm statistics are per rank (as in
// PyTorch DDP without SyncBatchNorm) and the checkpoints hold rank 0's.
// Rank 0 alone writes checkpoints and metrics and reports steps. A missing
// image is fatal (as --strict): the ranks' slices must stay the same size.
// Webdataset shards instead of a CSV (clip/data/stream_loader.h): each rank
// streams its own shards; before each step the ranks agree on the smallest
// batch among them (a skipped image shortens every rank's batch) and end the
// epoch together when one runs out.
// A run resumes on another number of processes at the same global batch (the
// per-process batch becomes global / N), continuing at the same sample.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clip/data/dataset.h"
#include "clip/model/model.h"
#include "tensor/precision.h"
#include "clip/text/tokenizer.h"
#include "clip/train/objective.h"
#include "clip/train/train_loop.h"
#include "clip/train/zero_optimizer.h"
#include "distributed/communicator.h"
#include "distributed/grad_buckets.h"
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
  int workers = 2;          // image decoding threads
  bool strict = false;      // a missing or corrupt image fails the run
  bool local_loss = false;  // data parallel: open_clip's --local-loss (see clip::GlobalBatch)
  int zero_stage = 0;       // data parallel: 1 shards the optimizer state (ZeRO-1, clip/train/zero_optimizer.h)
  // CSV layout of the training data (caption_key is also the json field shards' captions are read from).
  std::string image_key = "image", caption_key = "caption";
  char delimiter = ',';
  int64_t shuffle_buffer = 1000;    // shards: samples held by the seeded shuffle buffer
  bool exact_resize = false;        // no DCT-domain scaling of large JPEGs (io/decode.h)
  int64_t accum_freq = 1;           // micro-batches of batch_size per step (accumulated_forward_backward)
  bool grad_checkpointing = false;  // recompute each transformer block in backward (fn::checkpoint)
  int64_t save_every = 0;           // also checkpoint every N steps mid-epoch (0: at epoch ends only)
  // Where the model, its gradients and the optimizer state live; batches are
  // uploaded to it through pinned buffers (tensor/device_upload.h).
  Device device = Device::CPU;
  // Set as the process's precision (tensor/precision.h) by run(); a resumed run keeps its own.
  Precision precision = Precision::fp32;

  nlohmann::json to_json() const;
  static TrainOptions from_json(const nlohmann::json& json);
};

class Trainer {
 public:
  // A new run: model, data and objective given; writes into run_dir (created).
  // Files of an earlier run there (checkpoint, model, metrics) are replaced at
  // the first step, so a run that fails before it leaves them as they were;
  // callers that must not replace them check run_files_in first.
  // world: the data-parallel processes (null: this process alone).
  Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options, std::string run_dir,
          std::unique_ptr<Objective> objective = std::make_unique<ClipObjective>(),
          std::shared_ptr<distributed::Communicator> world = nullptr);
  // The files of a run that run_dir holds (checkpoint.safetensors, model.safetensors, a
  // non-empty metrics.jsonl), in that order; empty when it holds none.
  static std::vector<std::string> run_files_in(const std::string& run_dir);
  // The device a run in run_dir trains on (its checkpoint's header alone),
  // for joining the data-parallel world before resuming it.
  static Device device_of_run(const std::string& run_dir);
  // Continues the run in run_dir from its last completed epoch; its objective
  // is rebuilt by name from `objectives`.
  static Trainer resume(const std::string& run_dir, const ObjectiveRegistry& objectives = ObjectiveRegistry(),
                        std::shared_ptr<distributed::Communicator> world = nullptr);

  // Trains the remaining epochs (clip/train/train_loop.h); calls on_step after every step and,
  // on rank 0, on_epoch with the number of completed epochs once each epoch's checkpoint is
  // written (the model is back in train mode after it, whatever on_epoch did with it).
  void run(const std::function<void(const StepReport&)>& on_step = nullptr,
           const std::function<void(int64_t completed_epochs)>& on_epoch = nullptr);

  ClipModel& model() { return *model_; }
  int64_t completed_epochs() const { return epoch_; }
  int64_t step() const { return step_; }

 private:
  Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options, std::string run_dir,
          std::unique_ptr<Objective> objective, std::shared_ptr<distributed::Communicator> world, bool fresh);
  bool data_parallel() const { return world_->world_size() > 1; }
  bool writes_files() const { return world_->rank() == 0; }
  // The mean over the ranks of every loss part (each rank's own without data parallel).
  std::map<std::string, double> mean_over_ranks(std::map<std::string, double> values) const;
  // The batch's token tables: each table's captions of its rows, tokenised.
  std::vector<Tensor> token_tables(const Batch& batch) const;
  int64_t sample_count() const { return shards_.empty() ? static_cast<int64_t>(data_.size()) : shard_samples_; }
  // The epoch's batches: a Loader over the CSV's rows or a StreamLoader over this rank's shards.
  std::unique_ptr<BatchSource> make_source(uint64_t seed, int64_t global_batch) const;
  // What a step reads back for its log: every loss part (the mean over the
  // ranks) and the logit scale after the step (clamped).
  struct StepValues {
    std::map<std::string, double> losses;
    double logit_scale = 0;
  };
  // One optimisation step: no host read but one, for the values it returns.
  StepValues train_step(const TrainBatch& batch);
  // The optimizer state of every parameter (a collective when it is sharded).
  std::vector<std::pair<std::string, Tensor>> optimizer_state() const;
  // mid_epoch: after batch batch_in_epoch_ of epoch epoch_ (rng: the epoch's state before its shuffle seed).
  void save_checkpoint(const std::vector<std::pair<std::string, Tensor>>& optimizer_state, bool mid_epoch) const;
  // The first step of a new run: removes an earlier run's files, starts the metrics log.
  void start_new_run(std::ofstream& metrics);
  void open_metrics(std::ofstream& metrics, std::ios::openmode mode) const;  // rank 0's; throws naming it
  void load_checkpoint();

  std::shared_ptr<ClipModel> model_;
  std::string train_csv_;
  TrainOptions options_;
  std::string run_dir_;
  ImageCaptionDataset data_;         // a CSV's rows, or
  std::vector<std::string> shards_;  // webdataset shards
  int64_t shard_samples_ = 0;
  std::unique_ptr<Objective> objective_;
  std::vector<TokenTable> token_tables_;
  Tokenizer tokenizer_;
  Tensor tokens_;  // i32 [rows, context_length]: every plain caption, tokenised once
  std::shared_ptr<distributed::Communicator> world_;
  std::unique_ptr<distributed::GradientBuckets> gradient_buckets_;  // data parallel only
  std::unique_ptr<nn::AdamW> optimizer_;  // or, sharded (--zero 1; over the buckets' segments):
  std::unique_ptr<ZeroOptimizer> zero_optimizer_;
  Generator generator_;
  int64_t epoch_ = 0;           // completed epochs
  int64_t step_ = 0;            // completed steps
  int64_t batch_in_epoch_ = 0;  // batches of epoch epoch_ already trained on (a mid-epoch checkpoint's)
  Generator::State epoch_rng_state_{};
  bool new_run_ = false;  // a new run that has not taken its first step
};

}  // namespace clipgrad::clip
