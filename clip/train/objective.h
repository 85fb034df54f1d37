// The objective seam: what the trainer optimises, and what data it needs.
//
// An objective names the image views and token tables a batch must carry
// (the plain image and caption always come first; others are per-sample
// seeded transforms of them), and computes named loss parts from the model and
// a batch. CLIP's symmetric InfoNCE is one objective (ClipObjective below);
// CleanCLIP's lives in cleanclip/ and reaches the trainer through the
// registry, which the CLI fills, so clip/ never learns of poisoning.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clip/data/loader.h"
#include "clip/model/model.h"
#include "clip/train/loss.h"

namespace clipgrad::clip {

// A transform of one caption, given its dataset row and a generator seeded
// from (seed, epoch, row) alone. Called from one thread.
using CaptionTransform = std::function<std::string(const std::string& caption, int64_t row, Generator& generator)>;

// An image view: `transform` changes the decoded 8-bit image before CLIP's
// preprocessing; null means the image as it is.
struct ImageView {
  std::string name;
  ImageTransform transform;
};

// A token table: `transform` rewrites each caption before tokenising; null
// means the caption as it is. per_epoch: a new draw every epoch (else one
// draw, the epoch-0 one, for the whole run).
struct TokenTable {
  std::string name;
  CaptionTransform transform;
  bool per_epoch = true;
};

// One training batch: every view of every sample, decoded once.
struct TrainBatch {
  std::vector<Tensor> images;  // [views] f32 [B, 3, R, R], in the objective's image_views() order
  std::vector<Tensor> tokens;  // [tables] i32 [B, L], in the objective's token_tables() order
  std::vector<int64_t> rows;   // [B] dataset row of each sample
  GlobalBatch global;          // data parallel: the global batch these B rows are one rank's slice of
};

// What one forward computes: the loss parts by name ("total" is the one
// backward runs on; the others are logged beside it) and the tensors a parity
// dump reads ("image_features", "logits", ...).
struct ObjectiveOutput {
  std::map<std::string, Variable> losses;
  std::map<std::string, Variable> tensors;
  const Variable& total() const;  // throws when there is no "total"
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string name() const = 0;
  // Everything needed to rebuild this objective on resume (with its name).
  virtual nlohmann::json config() const { return nlohmann::json::object(); }
  // The first view is the plain image (null transform) and the first table the
  // plain captions; an objective that needs only those keeps the defaults.
  virtual std::vector<ImageView> image_views() const { return {{"image", nullptr}}; }
  virtual std::vector<TokenTable> token_tables() const { return {{"caption", nullptr}}; }
  // The per-sample features of a batch by name, each [B, E] in row order
  // ("image_features", "text_features", ...): what the loss reads.
  virtual std::map<std::string, Variable> features(ClipModel& model, const TrainBatch& batch) const = 0;
  // The losses from the features of a whole batch (rows of every micro-batch
  // with --accum-freq), with `global` for data parallel.
  virtual ObjectiveOutput loss(const std::map<std::string, Variable>& features, const Variable& logit_scale,
                               const GlobalBatch& global) const = 0;
  // loss(features(batch)); the output's tensors also hold the features.
  virtual ObjectiveOutput forward(ClipModel& model, const TrainBatch& batch) const;
};

// CLIP's symmetric contrastive loss on the plain views: losses {total},
// tensors {image_features, text_features, logits}.
class ClipObjective : public Objective {
 public:
  std::string name() const override { return "clip"; }
  std::map<std::string, Variable> features(ClipModel& model, const TrainBatch& batch) const override;
  ObjectiveOutput loss(const std::map<std::string, Variable>& features, const Variable& logit_scale,
                       const GlobalBatch& global) const override;
};

// The forward and backward of one training step, shared by the trainer and the
// parity dump (so the parity tests check the trainer's own code): clears the
// model's gradients, runs the objective's forward on the batch and backward
// from its total loss; the gradients are left on the parameters.
ObjectiveOutput forward_backward(ClipModel& model, const Objective& objective, const TrainBatch& batch);

// forward_backward over K micro-batches as one batch of all their rows, as
// open_clip's --accum-freq: every micro-batch's features computed without a
// graph and cached; then for each micro-batch j its features again with a graph,
// the loss of the whole batch from them and the others' cached features, and
// backward through micro-batch j alone. The gradients add up to those of the
// whole batch in one pass (to float32 rounding; the logit scale's counted once),
// in the memory of one micro-batch's graph. Data parallel: each rank's rows are
// its micro-batches in order, so the gathered batch is the same global batch.
// The losses are the whole batch's. (BatchNorm towers see micro-batch statistics.)
ObjectiveOutput accumulated_forward_backward(ClipModel& model, const Objective& objective,
                                             const std::vector<TrainBatch>& micro_batches);
// A batch cut into `count` micro-batches of equal rows (its rows must divide).
std::vector<TrainBatch> split_batch(const TrainBatch& batch, int64_t count);

// Objectives by name, for `--objective NAME` and for resume (which rebuilds
// the run's objective from the name and config() in its checkpoint).
class ObjectiveRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Objective>(const nlohmann::json& config)>;
  // A registry that knows "clip".
  ObjectiveRegistry();
  void add(const std::string& name, Factory factory);
  // Throws naming the known objectives when `name` is not one of them.
  std::unique_ptr<Objective> make(const std::string& name, const nlohmann::json& config = {}) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Factory> factories_;
};

}  // namespace clipgrad::clip
