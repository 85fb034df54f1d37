#include "clip/train/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "clip/checkpoint/checkpoint.h"
#include "clip/data/loader.h"
#include "clip/train/loss.h"
#include "clip/train/train_loop.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "tensor/device_upload.h"
#include "tensor/ops/shape.h"

namespace clipgrad::clip {

namespace fs = std::filesystem;

static const char* kCheckpoint = "checkpoint.safetensors";
static const char* kModel = "model.safetensors";
static const char* kMetrics = "metrics.jsonl";
static const double kMaxLogitScale = std::log(100.0);

nlohmann::json TrainOptions::to_json() const {
  return {{"epochs", epochs},
          {"batch_size", batch_size},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"warmup_steps", warmup_steps},
          {"grad_clip_norm", grad_clip_norm},
          {"seed", seed},
          {"workers", workers},
          {"strict", strict},
          {"local_loss", local_loss},
          {"zero_stage", zero_stage},
          {"image_key", image_key},
          {"caption_key", caption_key},
          {"delimiter", std::string(1, delimiter)},
          {"device", device_name(device)}};
}

TrainOptions TrainOptions::from_json(const nlohmann::json& json) {
  TrainOptions options;
  options.epochs = json.at("epochs");
  options.batch_size = json.at("batch_size");
  options.lr = json.at("lr");
  options.weight_decay = json.at("weight_decay");
  options.warmup_steps = json.at("warmup_steps");
  options.grad_clip_norm = json.at("grad_clip_norm");
  options.seed = json.at("seed");
  options.workers = json.at("workers");
  options.strict = json.at("strict");
  options.local_loss = json.value("local_loss", false);
  options.zero_stage = json.value("zero_stage", 0);
  options.image_key = json.at("image_key");
  options.caption_key = json.at("caption_key");
  options.delimiter = json.at("delimiter").get<std::string>().at(0);
  // Runs from before the CUDA backend have no "device": they ran on the CPU.
  options.device = json.value("device", std::string("cpu")) == "cuda" ? Device::CUDA : Device::CPU;
  return options;
}

Trainer::Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options,
                 std::string run_dir, std::unique_ptr<Objective> objective,
                 std::shared_ptr<distributed::Communicator> world)
    : Trainer(std::move(model), train_csv, std::move(options), std::move(run_dir), std::move(objective),
              std::move(world), true) {}

Trainer::Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options,
                 std::string run_dir, std::unique_ptr<Objective> objective,
                 std::shared_ptr<distributed::Communicator> world, bool fresh)
    : model_(std::move(model)),
      train_csv_(fs::absolute(train_csv).string()),
      options_(std::move(options)),
      run_dir_(std::move(run_dir)),
      data_(ImageCaptionDataset::from_csv(train_csv_, options_.image_key, options_.caption_key, options_.delimiter)),
      objective_(std::move(objective)),
      token_tables_(objective_->token_tables()),
      world_(world ? std::move(world) : std::make_shared<distributed::SingleProcess>()),
      generator_(options_.seed) {
  if (token_tables_.empty() || token_tables_[0].transform || objective_->image_views().empty() ||
      objective_->image_views()[0].transform)
    throw std::logic_error("objective '" + objective_->name() +
                           "' must list the plain image and the plain captions first");
  if (data_.size() == 0) throw std::invalid_argument("training data '" + train_csv_ + "' has no rows");
  if (options_.batch_size < 1 || options_.batch_size * world_->world_size() < 2)
    throw std::invalid_argument(
        "--batch-size must be at least 2 for a contrastive loss (at least 1 per process "
        "when data parallel)");
  std::vector<std::string> captions;
  for (const auto& row : data_.rows()) captions.push_back(row.caption);
  tokens_ = tokenizer_.tokenize_batch(captions, model_->config().context_length);
  if (options_.zero_stage != 0 && options_.zero_stage != 1)
    throw std::invalid_argument("--zero " + std::to_string(options_.zero_stage) +
                                ": only 0 (off) and 1 (sharded optimizer state) exist");
  model_->to(options_.device);  // before the optimizer: its moments are made where the parameters are
  auto groups = nn::clip_param_groups(model_->named_parameters(), options_.weight_decay);
  const bool sharded = options_.zero_stage == 1 && data_parallel();  // ZeRO-1 on one process is AdamW
  if (data_parallel()) {
    // The same seed gives every rank the same initial weights; the broadcast
    // makes it so whatever the model came from.
    for (Variable& param : model_->parameters())
      world_->broadcast(param.value(), 0, "broadcast of the initial weights");
    gradient_buckets_ = std::make_unique<distributed::GradientBuckets>(
        model_->parameters(), *world_, distributed::kDefaultBucketBytes,
        sharded ? distributed::GradientReduction::reduce_scatter : distributed::GradientReduction::all_reduce);
  }
  if (sharded)
    zero_optimizer_ =
        std::make_unique<ZeroOptimizer>(groups, *gradient_buckets_, *world_, options_.lr, 0.9, 0.98, 1e-6);
  else
    optimizer_ = std::make_unique<nn::AdamW>(groups, options_.lr, 0.9, 0.98, 1e-6);
  fs::create_directories(run_dir_);
  if (fresh && writes_files()) {
    std::ofstream(fs::path(run_dir_) / kMetrics, std::ios::trunc);  // a new run starts a new log
  }
}

// ---- checkpoints ----

static std::string generator_state_string(const Generator& generator) {
  std::ostringstream out;
  for (uint64_t word : generator.state()) out << word << ' ';
  return out.str();
}

static Generator::State parse_generator_state(const std::string& text) {
  std::istringstream in(text);
  Generator::State state{};
  for (auto& word : state)
    if (!(in >> word)) throw std::runtime_error("checkpoint has a malformed rng_state");
  return state;
}

std::vector<std::pair<std::string, Tensor>> Trainer::optimizer_state() const {
  return zero_optimizer_ ? zero_optimizer_->gather_state() : optimizer_->state();
}

void Trainer::save_checkpoint(const std::vector<std::pair<std::string, Tensor>>& optimizer_state) const {
  std::map<std::string, io::StoredTensor> tensors;
  for (const auto& [name, value] : model_->state_dict()) {
    // BatchNorm's counter is an I64 in PyTorch's files.
    std::string stored = value.dtype() == DType::I32 ? "I64" : "";
    tensors["model." + name] = {value, stored};
  }
  for (const auto& [key, value] : optimizer_state) tensors["optim." + key] = {value, ""};
  nlohmann::json config = model_->config().to_json();
  std::map<std::string, std::string> metadata{{"format", "clipgrad-train"},
                                              {"clip_config", config.dump()},
                                              {"options", options_.to_json().dump()},
                                              {"train_csv", train_csv_},
                                              {"epoch", std::to_string(epoch_)},
                                              {"step", std::to_string(step_)},
                                              {"rng_state", generator_state_string(generator_)},
                                              {"objective", objective_->name()},
                                              {"objective_config", objective_->config().dump()},
                                              {"world_size", std::to_string(world_->world_size())}};
  io::write_safetensors((fs::path(run_dir_) / kCheckpoint).string(), tensors, metadata);

  save_clip(*model_, (fs::path(run_dir_) / kModel).string(), CheckpointLayout::OpenAI);
}

// The checkpoint a run resumes from; throws when no epoch was completed.
static std::string resume_checkpoint(const std::string& run_dir) {
  std::string path = (fs::path(run_dir) / kCheckpoint).string();
  if (!fs::exists(path))
    throw std::runtime_error("cannot resume '" + run_dir + "': no " + kCheckpoint +
                             " (no epoch was completed); start the run again");
  return path;
}

Device Trainer::device_of_run(const std::string& run_dir) {
  const std::string path = resume_checkpoint(run_dir);
  const auto metadata = io::read_safetensors_metadata(path);
  const auto options = metadata.find("options");
  if (options == metadata.end()) throw std::runtime_error("bad checkpoint '" + path + "': metadata has no 'options'");
  return TrainOptions::from_json(nlohmann::json::parse(options->second)).device;
}

Trainer Trainer::resume(const std::string& run_dir, const ObjectiveRegistry& objectives,
                        std::shared_ptr<distributed::Communicator> world) {
  if (!world) world = std::make_shared<distributed::SingleProcess>();
  const std::string path = resume_checkpoint(run_dir);
  io::SafetensorsFile file = io::read_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    auto found = file.metadata.find(key);
    if (found == file.metadata.end())
      throw std::runtime_error("bad checkpoint '" + path + "': metadata has no '" + key + "'");
    return found->second;
  };
  auto config = ClipConfig::from_json(nlohmann::json::parse(meta("clip_config")));
  auto model = std::make_shared<ClipModel>(config);
  TrainOptions options = TrainOptions::from_json(nlohmann::json::parse(meta("options")));
  // The same global batch on any number of processes: the run continues at the same sample and schedule.
  auto saved_world = file.metadata.find("world_size");
  const int64_t global_batch =
      options.batch_size * (saved_world == file.metadata.end() ? 1 : std::stoll(saved_world->second));
  if (global_batch % world->world_size() != 0)
    throw std::runtime_error("cannot resume '" + run_dir + "' on " + std::to_string(world->world_size()) +
                             " processes: its global batch of " + std::to_string(global_batch) +
                             " does not split evenly over them");
  options.batch_size = global_batch / world->world_size();
  Trainer trainer(model, meta("train_csv"), options, run_dir,
                  objectives.make(meta("objective"), nlohmann::json::parse(meta("objective_config"))), world, false);
  nn::StateDict state;
  std::vector<std::pair<std::string, Tensor>> optim;
  for (const auto& [name, stored] : file.tensors) {
    if (name.rfind("model.", 0) == 0) state[name.substr(6)] = stored.value;
    if (name.rfind("optim.", 0) == 0) optim.emplace_back(name.substr(6), stored.value);
  }
  model->load_state_dict(state);
  if (trainer.zero_optimizer_)
    trainer.zero_optimizer_->load_state(optim);
  else
    trainer.optimizer_->load_state(optim);
  trainer.epoch_ = std::stoll(meta("epoch"));
  trainer.step_ = std::stoll(meta("step"));
  trainer.generator_.set_state(parse_generator_state(meta("rng_state")));

  // Steps logged after the checkpoint belong to the interrupted epoch, which
  // reruns. A kill mid-write can leave a torn last line: it is dropped.
  fs::path metrics = fs::path(run_dir) / kMetrics;
  std::ifstream in(metrics);
  if (!trainer.writes_files()) return trainer;
  std::string kept, line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.contains("step")) {
      if (in.peek() != std::char_traits<char>::eof())
        throw std::runtime_error("cannot resume '" + run_dir + "': " + metrics.string() + ":" +
                                 std::to_string(line_number) +
                                 " is not a metrics line (only the last line may be torn)");
      std::cerr << "clipgrad: warning: dropping the torn last line of " << metrics.string() << "\n";
      break;
    }
    if (entry.at("step").get<int64_t>() < trainer.step_) kept += line + "\n";
  }
  in.close();
  io::write_file_atomic(metrics.string(), kept);
  return trainer;
}

// ---- the loop ----

std::vector<Tensor> Trainer::token_tables(const std::vector<int64_t>& rows) const {
  std::vector<Tensor> tables{ops::index_rows(tokens_, rows)};
  for (size_t t = 1; t < token_tables_.size(); ++t) {
    const TokenTable& table = token_tables_[t];
    std::vector<std::string> captions;
    for (int64_t row : rows) {
      int64_t draw_epoch = table.per_epoch ? epoch_ : 0;
      Generator generator(view_seed(options_.seed, draw_epoch, row, static_cast<int64_t>(t)));
      captions.push_back(table.transform(data_[row].caption, row, generator));
    }
    tables.push_back(tokenizer_.tokenize_batch(captions, model_->config().context_length));
  }
  return tables;
}

std::map<std::string, double> Trainer::mean_over_ranks(std::map<std::string, double> values) const {
  if (!data_parallel()) return values;
  std::vector<double> flat;
  for (const auto& [name, value] : values) flat.push_back(value);
  Tensor sums = Tensor::from_vector<double>({static_cast<int64_t>(flat.size())}, flat);
  world_->all_reduce_sum(sums, "all-reduce of the step's losses");
  size_t i = 0;
  for (auto& [name, value] : values) value = sums.data<double>()[i++] / world_->world_size();
  return values;
}

std::map<std::string, double> Trainer::train_step(const TrainBatch& batch) {
  if (gradient_buckets_) gradient_buckets_->start_step();
  ObjectiveOutput output = forward_backward(*model_, *objective_, batch);
  if (gradient_buckets_) gradient_buckets_->finish_step();
  if (zero_optimizer_) {
    if (options_.grad_clip_norm > 0) zero_optimizer_->clip_grad_norm(options_.grad_clip_norm);
    zero_optimizer_->step();
  } else {
    if (options_.grad_clip_norm > 0) nn::clip_grad_norm(model_->parameters(), options_.grad_clip_norm);
    optimizer_->step();
  }
  // CLIP clamps the temperature so that logits stay below 100.
  Tensor& scale = model_->logit_scale.value();
  // One scalar read per step; written back only when clamped (rarely), which
  // leaves the bits as they were otherwise.
  const double logit_scale = scale.item(), clamped = std::clamp(logit_scale, 0.0, kMaxLogitScale);
  if (clamped != logit_scale) scale.fill(clamped);
  std::map<std::string, double> values;
  for (const auto& [name, loss] : output.losses) values[name] = loss.value().item();
  return mean_over_ranks(values);
}

void Trainer::run(const std::function<void(const StepReport&)>& on_step,
                  const std::function<void(int64_t completed_epochs)>& on_epoch) {
  int image_size = static_cast<int>(model_->config().image_resolution);
  const int ranks = world_->world_size();
  const int64_t global_batch = options_.batch_size * ranks;
  // Data parallel: the ranks' slices must stay the same size, so a bad image is fatal.
  LoaderOptions loader_options{.batch_size = global_batch,
                               .image_size = image_size,
                               .workers = options_.workers,
                               .shuffle = true,
                               .drop_last = true,
                               .seed = 0,
                               .strict = options_.strict || data_parallel(),
                               .slices = ranks,
                               .slice = world_->rank()};
  int64_t batches = static_cast<int64_t>(data_.size()) / global_batch;
  if (batches == 0)
    throw std::invalid_argument("training data has " + std::to_string(data_.size()) +
                                " rows, fewer than one batch of " + std::to_string(global_batch));
  // Each line is one write, flushed: a kill leaves at most the last line torn.
  std::ofstream metrics;
  if (writes_files()) metrics.open(fs::path(run_dir_) / kMetrics, std::ios::app);
  EpochLoop loop{.epochs = options_.epochs,
                 .batches = batches,
                 .schedule = {.peak = options_.lr,
                              .warmup_steps = options_.warmup_steps,
                              .total_steps = batches * options_.epochs},
                 .metrics = writes_files() ? &metrics : nullptr,
                 .metrics_fields =
                     [](const StepReport& report, nlohmann::json& line) {
                       line["logit_scale"] = report.logit_scale;
                       line["samples_per_s"] = report.samples_per_second;
                       for (const auto& [name, value] : report.loss_parts) line["loss_" + name] = value;
                     },
                 .on_step = writes_files() ? on_step : nullptr,
                 .error_prefix = "",
                 .advice = "lower --lr or set --grad-clip"};
  const GlobalBatch global{data_parallel() ? world_.get() : nullptr, options_.local_loss};
  std::vector<ImageTransform> views;
  for (const ImageView& view : objective_->image_views()) views.push_back(view.transform);
  model_->train();

  for (; epoch_ < options_.epochs;) {
    loader_options.seed = generator_.next_u64();  // the epoch's shuffle, restored on resume
    Loader loader(loader_items(data_), loader_options, views);
    DeviceUpload upload(options_.device);
    loop.epoch = epoch_;
    auto take_step = [&](const Batch& batch, double lr) -> std::optional<StepResult> {
      const int64_t batch_rows = static_cast<int64_t>(batch.indices.size()) * ranks;  // equal slices
      if (batch_rows < 2) return std::nullopt;  // skipped images left too few for a contrastive batch
      if (zero_optimizer_)
        zero_optimizer_->set_lr(lr);
      else
        optimizer_->set_lr(lr);
      TrainBatch train_batch{.images = {}, .tokens = {}, .rows = batch.indices, .global = global};
      for (const Tensor& view : batch.views) train_batch.images.push_back(upload(view));
      for (const Tensor& table : token_tables(batch.indices)) train_batch.tokens.push_back(upload(table));
      std::map<std::string, double> losses = train_step(train_batch);
      const double loss = losses.at("total");
      losses.erase("total");
      return StepResult{.loss = loss,
                        .rows = batch_rows,
                        .logit_scale = std::exp(model_->logit_scale.value().item()),
                        .loss_parts = losses};
    };
    const int64_t samples = run_epoch(loader, loop, step_, take_step);
    // Every image skipped (moved data, wrong paths) would otherwise "train" no
    // step and save an unchanged model as if all went well.
    if (samples == 0)
      throw std::runtime_error("epoch " + std::to_string(epoch_ + 1) + " of '" + train_csv_ +
                               "' trained on no image: " + std::to_string(loader.skipped_in_epoch()) +
                               " skipped (see the warnings); check that the CSV's image paths resolve");
    ++epoch_;
    std::vector<std::pair<std::string, Tensor>> state = optimizer_state();  // every rank: it may gather
    if (writes_files()) save_checkpoint(state);
    // No rank runs ahead of a checkpoint that failed (rank 0 then aborts the job).
    world_->barrier("barrier after the checkpoint of epoch " + std::to_string(epoch_));
    if (on_epoch && writes_files()) on_epoch(epoch_), model_->train();  // the hook may leave eval mode
  }
}

}  // namespace clipgrad::clip
