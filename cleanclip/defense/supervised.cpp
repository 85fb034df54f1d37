#include "cleanclip/defense/supervised.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "autograd/functional.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/data/loader.h"
#include "clip/train/train_loop.h"
#include "io/atomic_file.h"
#include "nn/optim.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpoint = "model.safetensors";
constexpr const char* kMetrics = "metrics.jsonl";

void check_options(const SupervisedOptions& options) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("finetune-supervised: " + what); };
  if (options.epochs < 1) fail("--epochs must be at least 1");
  if (options.batch_size < 1) fail("--batch-size must be at least 1");
  if (!(options.lr > 0) || !std::isfinite(options.lr)) fail("--lr must be a positive number");
  if (!(options.weight_decay >= 0) || !std::isfinite(options.weight_decay)) fail("--wd must be >= 0");
  if (options.warmup_steps < 0) fail("--warmup must be >= 0");
  if (options.workers < 0) fail("--workers must be >= 0");
}

// Fraction of rows whose argmax (ties: the lowest class) is the label.
double batch_accuracy(const Tensor& logits, const std::vector<int32_t>& labels) {
  const int64_t n = logits.size(0), classes = logits.size(1);
  const float* values = logits.data<float>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = values + i * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (row[c] > row[best]) best = c;
    correct += best == labels[i];
  }
  return n ? double(correct) / n : 0;
}

// Throws unless the head fits embed_dim and its classes, and every label is one of them.
void check_head_and_labels(int64_t embed_dim, const ClassifierHead& head, const clip::LabelledDataset& data) {
  const int64_t class_count = static_cast<int64_t>(head.classes.size());
  if (head.weight.shape() != Shape{class_count, embed_dim} || head.bias.shape() != Shape{class_count})
    throw std::invalid_argument("finetune-supervised: head weight " + shape_str(head.weight.shape()) + " and bias " +
                                shape_str(head.bias.shape()) + " do not fit " + std::to_string(class_count) +
                                " classes and embed_dim " + std::to_string(embed_dim));
  if (data.size() == 0)
    throw std::invalid_argument("finetune-supervised: labelled data '" + data.source() + "' has no rows");
  for (size_t row = 0; row < data.size(); ++row)
    if (data[row].label < 0 || data[row].label >= class_count)
      throw std::invalid_argument(data.where(row) + ": label " + std::to_string(data[row].label) +
                                  " is not one of the " + std::to_string(class_count) + " classes (0.." +
                                  std::to_string(class_count - 1) +
                                  "); fix the CSV or pass the classes file it was labelled with");
}

// requires_grad off for every parameter outside visual.* while alive; the
// previous flags come back at scope exit (also when training throws).
class FreezeNonVisual {
 public:
  explicit FreezeNonVisual(clip::ClipModel& model) {
    for (auto& [name, parameter] : model.named_parameters()) {
      saved_.emplace_back(parameter, parameter.requires_grad());
      parameter.set_requires_grad(name.rfind("visual.", 0) == 0);
    }
  }
  ~FreezeNonVisual() {
    for (auto& [parameter, flag] : saved_) parameter.set_requires_grad(flag);
  }
  FreezeNonVisual(const FreezeNonVisual&) = delete;
  FreezeNonVisual& operator=(const FreezeNonVisual&) = delete;

 private:
  std::vector<std::pair<Variable, bool>> saved_;
};

}  // namespace

nlohmann::json SupervisedOptions::to_json() const {
  return {{"epochs", epochs},
          {"batch_size", batch_size},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"warmup_steps", warmup_steps},
          {"seed", seed},
          {"workers", workers},
          {"strict", strict},
          {"image_key", image_key},
          {"label_key", label_key}};
}

int64_t train_supervised(clip::ClipModel& model, ClassifierHead& head, const clip::LabelledDataset& data,
                         const SupervisedOptions& options, std::ostream* metrics, const SupervisedStepFn& on_step) {
  check_options(options);
  check_head_and_labels(model.config().embed_dim, head, data);

  FreezeNonVisual frozen(model);
  Variable weight(head.weight.clone(), true), bias(head.bias.clone(), true);
  std::vector<std::pair<std::string, Variable>> trained;
  for (const auto& [name, parameter] : model.named_parameters())
    if (parameter.requires_grad()) trained.emplace_back(name, parameter);
  trained.emplace_back("head.weight", weight);
  trained.emplace_back("head.bias", bias);
  nn::AdamW optimizer(nn::clip_param_groups(trained, options.weight_decay), options.lr, 0.9, 0.999, 1e-8);

  clip::LoaderOptions loader_options{.batch_size = options.batch_size,
                                     .image_size = static_cast<int>(model.config().image_resolution),
                                     .workers = options.workers,
                                     .shuffle = true,
                                     .drop_last = false,
                                     .seed = options.seed,
                                     .strict = options.strict};
  clip::Loader loader(clip::loader_items(data), loader_options);
  const int64_t batches = loader.batches_per_epoch();
  const double logit_scale = std::exp(model.logit_scale.value().item());
  clip::EpochLoop loop{
      .epochs = options.epochs,
      .batches = batches,
      .schedule = {.peak = options.lr, .warmup_steps = options.warmup_steps, .total_steps = batches * options.epochs},
      .metrics = metrics,
      .metrics_path = "",  // the caller names the folder when the run fails
      .metrics_fields = [](const clip::StepReport& report,
                           nlohmann::json& line) { line["batch_top1"] = report.loss_parts.at("batch_top1"); },
      .on_step = on_step,
      .error_prefix = "finetune-supervised: ",
      .advice = "lower --lr"};
  model.train();

  int64_t step = 0;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    loop.epoch = epoch;  // shuffled with Generator(seed + epoch)
    clip::run_epoch(loader, loop, step, [&](const clip::Batch& batch, double lr) -> std::optional<clip::StepResult> {
      optimizer.set_lr(lr);
      std::vector<int32_t> labels;
      for (int64_t row : batch.indices) labels.push_back(static_cast<int32_t>(data[row].label));
      const int64_t batch_size = static_cast<int64_t>(labels.size());
      Tensor targets = Tensor::from_vector<int32_t>({batch_size}, labels);

      optimizer.zero_grad();
      Variable features = model.encode_image(Variable(batch.pixels));  // [B, E]
      Variable logits = head_logits(features, weight, bias);           // [B, C]
      Variable loss = fn::cross_entropy(logits, targets);
      loss.backward();
      optimizer.step();
      return clip::StepResult{.loss = loss.value().item(),
                              .rows = batch_size,
                              .logit_scale = logit_scale,
                              .loss_parts = {{"batch_top1", batch_accuracy(logits.value(), labels)}}};
    });
  }
  model.zero_grad();
  head.weight = weight.value();
  head.bias = bias.value();
  return step;
}

std::string finetune_supervised(const std::string& model_path, const std::string& labels_csv,
                                const std::string& classes_json, const std::string& out_dir,
                                const SupervisedOptions& options, const SupervisedStepFn& on_step) {
  check_options(options);
  std::shared_ptr<clip::ClipModel> model = clip::load_clip(model_path).model;
  clip::ClassNames class_names = clip::ClassNames::from_json(classes_json);
  clip::LabelledDataset data = clip::LabelledDataset::from_csv(labels_csv, options.image_key, options.label_key);
  data.check_labels(static_cast<int64_t>(class_names.classes.size()), classes_json);
  ClassifierHead head = zero_shot_head(*model, clip::Tokenizer(), class_names);

  // Made whole beside out_dir, then put in its place: a failure leaves an earlier run there as it was.
  io::StagedFolder staged(out_dir, {kMetrics, kCheckpoint});
  std::ofstream metrics(fs::path(staged.path()) / kMetrics, std::ios::trunc);
  if (!metrics) throw std::runtime_error("cannot write '" + (fs::path(staged.path()) / kMetrics).string() + "'");
  const int64_t steps = train_supervised(*model, head, data, options, &metrics, on_step);
  metrics.close();
  if (!metrics) throw std::runtime_error("cannot write '" + (fs::path(out_dir) / kMetrics).string() + "' (disk full?)");

  const std::string checkpoint = (fs::path(out_dir) / kCheckpoint).string();
  nlohmann::json provenance{{"defense", "supervised"},
                            {"init_model", fs::absolute(model_path).string()},
                            {"labels", fs::absolute(labels_csv).string()},
                            {"steps", steps},
                            {"head_init", "zero-shot (exp(logit_scale) * class embeddings, bias 0)"},
                            {"options", options.to_json()}};
  save_supervised_checkpoint(*model, head, (fs::path(staged.path()) / kCheckpoint).string(), provenance);
  staged.commit();
  return checkpoint;
}

}  // namespace clipgrad::cleanclip
