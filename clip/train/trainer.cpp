#include "clip/train/trainer.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "clip/checkpoint/checkpoint.h"
#include "clip/data/loader.h"
#include "clip/data/stream_loader.h"
#include "clip/train/loss.h"
#include "clip/train/train_loop.h"
#include "io/atomic_file.h"
#include "io/json.h"
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
          {"device", device_name(device)},
          {"precision", precision_name(precision)},
          {"shuffle_buffer", shuffle_buffer},
          {"exact_resize", exact_resize},
          {"accum_freq", accum_freq},
          {"grad_checkpointing", grad_checkpointing},
          {"save_every", save_every}};
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
  options.precision = parse_precision(json.value("precision", std::string("fp32")));
  options.shuffle_buffer = json.value("shuffle_buffer", options.shuffle_buffer);
  options.exact_resize = json.value("exact_resize", false);
  options.accum_freq = json.value("accum_freq", int64_t(1));
  options.grad_checkpointing = json.value("grad_checkpointing", false);
  options.save_every = json.value("save_every", int64_t(0));
  return options;
}

// i32 [rows, context]: every caption tokenised; one the tokenizer refuses (not UTF-8, say) is named by its row.
static Tensor tokenize_captions(const Tokenizer& tokenizer, const ImageCaptionDataset& data, int64_t context) {
  std::vector<std::string> captions;
  for (const auto& row : data.rows()) captions.push_back(row.caption);
  try {
    return tokenizer.tokenize_batch(captions, context);
  } catch (const std::exception&) {
    for (size_t row = 0; row < captions.size(); ++row) {
      try {
        tokenizer.tokenize(captions[row], context);
      } catch (const std::exception& error) {
        throw std::runtime_error(data.where(row) + ": caption: " + error.what());
      }
    }
    throw;
  }
}

Trainer::Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options,
                 std::string run_dir, std::unique_ptr<Objective> objective,
                 std::shared_ptr<distributed::Communicator> world)
    : Trainer(std::move(model), train_csv, std::move(options), std::move(run_dir), std::move(objective),
              std::move(world), true) {}

// Each "::"-separated part of a shard spec made absolute (a brace pattern or glob stays one).
static std::string absolute_data_path(const std::string& data) {
  std::string out;
  for (size_t start = 0;;) {
    const size_t separator = data.find("::", start);
    out += fs::absolute(data.substr(start, separator - start)).string();
    if (separator == std::string::npos) return out;
    out += "::";
    start = separator + 2;
  }
}

Trainer::Trainer(std::shared_ptr<ClipModel> model, const std::string& train_csv, TrainOptions options,
                 std::string run_dir, std::unique_ptr<Objective> objective,
                 std::shared_ptr<distributed::Communicator> world, bool fresh)
    : model_(std::move(model)),
      train_csv_(absolute_data_path(train_csv)),
      options_(std::move(options)),
      run_dir_(std::move(run_dir)),
      data_(is_shard_spec(train_csv_) ? ImageCaptionDataset()
                                      : ImageCaptionDataset::from_csv(train_csv_, options_.image_key,
                                                                      options_.caption_key, options_.delimiter)),
      shards_(is_shard_spec(train_csv_) ? expand_shard_spec(train_csv_) : std::vector<std::string>{}),
      objective_(std::move(objective)),
      token_tables_(objective_->token_tables()),
      world_(world ? std::move(world) : std::make_shared<distributed::SingleProcess>()),
      generator_(options_.seed) {
  if (token_tables_.empty() || token_tables_[0].transform || objective_->image_views().empty() ||
      objective_->image_views()[0].transform)
    throw std::logic_error("objective '" + objective_->name() +
                           "' must list the plain image and the plain captions first");
  for (int64_t count : shard_sample_counts(shards_)) shard_samples_ += count;
  if (sample_count() == 0) throw std::invalid_argument("training data '" + train_csv_ + "' has no samples");
  if (options_.epochs < 1) throw std::invalid_argument("--epochs must be at least 1 (0 epochs train nothing)");
  if (!(options_.lr > 0 && std::isfinite(options_.lr)) ||
      !(options_.weight_decay >= 0 && std::isfinite(options_.weight_decay)) ||
      !(options_.grad_clip_norm >= 0 && std::isfinite(options_.grad_clip_norm)))
    throw std::invalid_argument("--lr must be finite and positive, --wd and --grad-clip finite and non-negative");
  if (options_.accum_freq < 1 || options_.save_every < 0 || options_.shuffle_buffer < 0)
    throw std::invalid_argument("--accum-freq must be at least 1, --save-every and --shuffle-buffer at least 0");
  model_->set_grad_checkpointing(options_.grad_checkpointing);
  if (options_.batch_size < 1 || options_.batch_size * world_->world_size() < 2)
    throw std::invalid_argument(
        "--batch-size must be at least 2 for a contrastive loss (at least 1 per process "
        "when data parallel)");
  if (data_.size() > 0) tokens_ = tokenize_captions(tokenizer_, data_, model_->config().context_length);
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
  // A new run replaces what run_dir holds at its first step (start_new_run), not here:
  // a run that fails at start-up leaves an earlier run as it was.
  new_run_ = fresh;
}

std::vector<std::string> Trainer::run_files_in(const std::string& run_dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const char* name : {kCheckpoint, kModel, kMetrics}) {
    const fs::path path = fs::path(run_dir) / name;
    if (fs::exists(path, ec) && !(name == std::string(kMetrics) && fs::file_size(path, ec) == 0)) found.push_back(name);
  }
  return found;
}

void Trainer::open_metrics(std::ofstream& metrics, std::ios::openmode mode) const {
  if (!writes_files()) return;
  const fs::path path = fs::path(run_dir_) / kMetrics;
  metrics.open(path, mode);
  if (!metrics) throw std::runtime_error("cannot write '" + path.string() + "': " + std::strerror(errno));
}

void Trainer::start_new_run(std::ofstream& metrics) {
  new_run_ = false;
  // The files of a run that was here before (train --overwrite) go now, all together.
  if (writes_files())
    for (const char* name : {kCheckpoint, kModel}) fs::remove(fs::path(run_dir_) / name);
  open_metrics(metrics, std::ios::trunc);
}

// ---- checkpoints ----

static std::string generator_state_string(const Generator::State& state) {
  std::ostringstream out;
  for (uint64_t word : state) out << word << ' ';
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

void Trainer::save_checkpoint(const std::vector<std::pair<std::string, Tensor>>& optimizer_state,
                              bool mid_epoch) const {
  std::map<std::string, io::StoredTensor> tensors;
  for (const auto& [name, value] : model_->state_dict()) {
    // BatchNorm's counter is an I64 in PyTorch's files.
    std::string stored = value.dtype() == DType::I32 ? "I64" : "";
    tensors["model." + name] = {value, stored};
  }
  for (const auto& [key, value] : optimizer_state) tensors["optim." + key] = {value, ""};
  nlohmann::json config = model_->config().to_json();
  std::map<std::string, std::string> metadata{
      {"format", "clipgrad-train"},
      {"clip_config", config.dump()},
      {"options", options_.to_json().dump()},
      {"train_csv", train_csv_},
      {"epoch", std::to_string(epoch_)},
      {"step", std::to_string(step_)},
      {"rng_state", generator_state_string(mid_epoch ? epoch_rng_state_ : generator_.state())},
      {"batch_in_epoch", std::to_string(mid_epoch ? batch_in_epoch_ : 0)},
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
  return TrainOptions::from_json(io::parse_json(options->second, "checkpoint '" + path + "' metadata options")).device;
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
  auto metadata_json = [&](const std::string& key) {
    return io::parse_json(meta(key), "checkpoint '" + path + "' metadata " + key);
  };
  auto config = ClipConfig::from_json(metadata_json("clip_config"));
  auto model = std::make_shared<ClipModel>(config);
  TrainOptions options = TrainOptions::from_json(metadata_json("options"));
  // The same global batch on any number of processes: the run continues at the same sample and schedule.
  auto saved_world = file.metadata.find("world_size");
  const int64_t global_batch =
      options.batch_size * (saved_world == file.metadata.end() ? 1 : std::stoll(saved_world->second));
  if (global_batch % world->world_size() != 0)
    throw std::runtime_error("cannot resume '" + run_dir + "' on " + std::to_string(world->world_size()) +
                             " processes: its global batch of " + std::to_string(global_batch) +
                             " does not split evenly over them");
  options.batch_size = global_batch / world->world_size();
  auto batch_in_epoch = file.metadata.find("batch_in_epoch");
  const int64_t resumed_batch = batch_in_epoch == file.metadata.end() ? 0 : std::stoll(batch_in_epoch->second);
  if (resumed_batch > 0 && is_shard_spec(meta("train_csv")) && saved_world != file.metadata.end() &&
      std::stoll(saved_world->second) != world->world_size())
    throw std::runtime_error("cannot resume '" + run_dir + "' mid-epoch on " + std::to_string(world->world_size()) +
                             " processes: its shards were split among " + saved_world->second +
                             "; resume on as many, or from an epoch's end");
  Trainer trainer(model, meta("train_csv"), options, run_dir,
                  objectives.make(meta("objective"), metadata_json("objective_config")), world, false);
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
  trainer.batch_in_epoch_ = resumed_batch;
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
    const nlohmann::json entry = io::try_parse_json(line).value_or(nlohmann::json());
    if (!entry.is_object() || !entry.contains("step") || !entry.at("step").is_number_integer()) {
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

std::vector<Tensor> Trainer::token_tables(const Batch& batch) const {
  const std::vector<int64_t>& rows = batch.indices;  // CSV rows, or shard sample ids
  const int64_t context = model_->config().context_length;
  std::vector<Tensor> tables{shards_.empty() ? ops::index_rows(tokens_, rows)
                                             : tokenizer_.tokenize_batch(batch.captions, context)};
  for (size_t t = 1; t < token_tables_.size(); ++t) {
    const TokenTable& table = token_tables_[t];
    std::vector<std::string> captions;
    for (size_t i = 0; i < rows.size(); ++i) {
      int64_t draw_epoch = table.per_epoch ? epoch_ : 0;
      Generator generator(view_seed(options_.seed, draw_epoch, rows[i], static_cast<int64_t>(t)));
      captions.push_back(
          table.transform(shards_.empty() ? data_[rows[i]].caption : batch.captions[i], rows[i], generator));
    }
    tables.push_back(tokenizer_.tokenize_batch(captions, model_->config().context_length));
  }
  // Cut on the host to the columns up to the last EOT of any table (one width:
  // an objective may concatenate them), so the model never reads the uploaded
  // tables back to find it; the model cuts a CPU table to the same width.
  int64_t width = 1;
  for (const Tensor& table : tables) width = std::max(width, model_->trim_tokens(table).size(1));
  for (Tensor& table : tables)
    if (width < table.size(1)) table = ops::narrow(table, 1, 0, width);
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

// scalars: tensors [] of one dtype on one device -> their values, copied to
// the host together: one wait for the device, not one per value.
static std::vector<double> read_together(const std::vector<Tensor>& scalars) {
  std::vector<Tensor> rows;
  for (const Tensor& scalar : scalars) rows.push_back(scalar.reshape({1}));
  return ops::concat(rows, 0).to(Device::CPU).to(DType::F64).to_vector<double>();
}

Trainer::StepValues Trainer::train_step(const TrainBatch& batch) {
  if (gradient_buckets_) gradient_buckets_->start_step();
  ObjectiveOutput output = options_.accum_freq > 1 ? accumulated_forward_backward(
                                                         *model_, *objective_, split_batch(batch, options_.accum_freq))
                                                   : forward_backward(*model_, *objective_, batch);
  if (gradient_buckets_) gradient_buckets_->finish_step();
  if (zero_optimizer_) {
    if (options_.grad_clip_norm > 0) zero_optimizer_->clip_grad_norm(options_.grad_clip_norm);
    zero_optimizer_->step();
  } else {
    // The clip coefficient stays on the device and scales the gradients as AdamW reads them: no host read.
    Tensor grad_scale;
    if (options_.grad_clip_norm > 0)
      grad_scale = nn::clip_coefficient(model_->parameters(), options_.grad_clip_norm).coefficient;
    optimizer_->step(grad_scale);
  }
  // The step's one host read: every loss part and the logit scale.
  std::vector<Tensor> scalars;
  for (const auto& [name, loss] : output.losses) scalars.push_back(loss.value());
  Tensor& scale = model_->logit_scale.value();
  scalars.push_back(scale);
  const std::vector<double> values = read_together(scalars);
  // CLIP clamps the temperature so that logits stay below 100. Written back
  // only when clamped (rarely), which leaves the bits as they were otherwise.
  StepValues step{.losses = {}, .logit_scale = values.back()};
  const double clamped = std::clamp(step.logit_scale, 0.0, kMaxLogitScale);
  if (clamped != step.logit_scale) {
    scale.fill(clamped);
    step.logit_scale = scale.item();  // as stored: rounded to the parameter's dtype
  }
  size_t i = 0;
  for (const auto& [name, loss] : output.losses) step.losses[name] = values[i++];
  step.losses = mean_over_ranks(step.losses);
  return step;
}

namespace {

// Keeps the batch's first `rows` samples.
void truncate_batch(Batch& batch, int64_t rows) {
  if (static_cast<int64_t>(batch.indices.size()) <= rows) return;
  for (Tensor& view : batch.views) view = view.rows(0, rows);
  batch.pixels = batch.views.at(0);
  batch.indices.resize(rows);
  if (!batch.captions.empty()) batch.captions.resize(rows);
  if (!batch.labels.empty()) batch.labels.resize(rows);
}

// Shards: at most `batches` batches an epoch, and, data parallel, the ranks'
// agreement before each: every rank's batch cut to the smallest among them, and
// the epoch over for all once one rank's shards run out.
class AgreedBatches : public BatchSource {
 public:
  AgreedBatches(std::unique_ptr<BatchSource> inner, distributed::Communicator& world, int64_t batches)
      : inner_(std::move(inner)), world_(world), batches_(batches) {}
  void start_epoch(int64_t epoch, int64_t first_batch) override {
    inner_->start_epoch(epoch, first_batch);
    taken_ = first_batch;
  }
  int64_t skipped_in_epoch() const override { return inner_->skipped_in_epoch(); }
  bool next(Batch& batch) override {
    if (taken_ >= batches_) return false;
    const bool has = inner_->next(batch);
    const int ranks = world_.world_size();
    int64_t rows = has ? static_cast<int64_t>(batch.indices.size()) : 0;
    if (ranks > 1) {
      Tensor counts = Tensor::zeros({ranks}, DType::F64);
      counts.data<double>()[world_.rank()] = static_cast<double>(rows);
      world_.all_reduce_sum(counts, "all-reduce of the ranks' batch sizes");
      for (int r = 0; r < ranks; ++r) rows = std::min(rows, static_cast<int64_t>(counts.data<double>()[r]));
    }
    if (rows == 0) return false;
    truncate_batch(batch, rows);
    ++taken_;
    return true;
  }

 private:
  std::unique_ptr<BatchSource> inner_;
  distributed::Communicator& world_;
  int64_t batches_, taken_ = 0;
};

}  // namespace

std::unique_ptr<BatchSource> Trainer::make_source(uint64_t seed, int64_t global_batch) const {
  const int image_size = static_cast<int>(model_->config().image_resolution);
  const int ranks = world_->world_size();
  std::vector<ImageTransform> views;
  for (const ImageView& view : objective_->image_views()) views.push_back(view.transform);
  if (shards_.empty()) {
    // Data parallel: the ranks' slices of one order must stay the same size, so a bad image is fatal.
    return std::make_unique<Loader>(loader_items(data_),
                                    LoaderOptions{.batch_size = global_batch,
                                                  .image_size = image_size,
                                                  .workers = options_.workers,
                                                  .shuffle = true,
                                                  .drop_last = true,
                                                  .seed = seed,
                                                  .strict = options_.strict || data_parallel(),
                                                  .slices = ranks,
                                                  .slice = world_->rank(),
                                                  .exact_resize = options_.exact_resize,
                                                  .batch_memory = &DeviceUpload::host_memory(options_.device)},
                                    views);
  }
  StreamOptions stream{.batch_size = global_batch / ranks,
                       .image_size = image_size,
                       .workers = options_.workers,
                       .seed = seed,
                       .shuffle_buffer = options_.shuffle_buffer,
                       .exact_resize = options_.exact_resize,
                       .ranks = ranks,
                       .rank = world_->rank(),
                       .read = {.caption_key = options_.caption_key, .strict = options_.strict},
                       .batch_memory = &DeviceUpload::host_memory(options_.device)};
  return std::make_unique<AgreedBatches>(std::make_unique<StreamLoader>(shards_, stream, views), *world_,
                                         sample_count() / global_batch);
}

void Trainer::run(const std::function<void(const StepReport&)>& on_step,
                  const std::function<void(int64_t completed_epochs)>& on_epoch) {
  set_precision(options_.precision);
  const int ranks = world_->world_size();
  const int64_t global_batch = options_.batch_size * ranks * options_.accum_freq;  // samples per step
  const int64_t batches = sample_count() / global_batch;
  if (batches == 0)
    throw std::invalid_argument("training data has " + std::to_string(sample_count()) +
                                " samples, fewer than one batch of " + std::to_string(global_batch));
  // Each line is one write, flushed: a kill leaves at most the last line torn.
  std::ofstream metrics;
  if (!new_run_) open_metrics(metrics, std::ios::app);  // a new run opens its log at its first step
  EpochLoop loop{.epochs = options_.epochs,
                 .batches = batches,
                 .schedule = {.peak = options_.lr,
                              .warmup_steps = options_.warmup_steps,
                              .total_steps = batches * options_.epochs},
                 .metrics = writes_files() ? &metrics : nullptr,
                 .metrics_path = (fs::path(run_dir_) / kMetrics).string(),
                 .metrics_fields =
                     [](const StepReport& report, nlohmann::json& line) {
                       line["logit_scale"] = report.logit_scale;
                       line["samples_per_s"] = report.samples_per_second;
                       line["data_wait_ms"] = report.data_wait_ms;
                       for (const auto& [name, value] : report.loss_parts) line["loss_" + name] = value;
                     },
                 .on_step = writes_files() ? on_step : nullptr,
                 .error_prefix = "",
                 .advice = "lower --lr or set --grad-clip"};
  loop.after_step = [&](const Batch& batch) {
    batch_in_epoch_ = batch.number + 1;
    if (options_.save_every == 0 || step_ % options_.save_every != 0 || batch_in_epoch_ >= batches) return;
    std::vector<std::pair<std::string, Tensor>> state = optimizer_state();  // every rank: it may gather
    if (writes_files()) save_checkpoint(state, true);
  };
  const GlobalBatch global{data_parallel() ? world_.get() : nullptr, options_.local_loss};
  model_->train();

  for (; epoch_ < options_.epochs;) {
    epoch_rng_state_ = generator_.state();
    std::unique_ptr<BatchSource> source = make_source(generator_.next_u64(), global_batch);  // restored on resume
    DeviceUpload upload(options_.device);
    loop.epoch = epoch_;
    loop.first_batch = batch_in_epoch_;
    auto take_step = [&](Batch& batch, double lr) -> std::optional<StepResult> {
      // Micro-batches are equal: skipped images leave a multiple of --accum-freq (the same on every rank).
      truncate_batch(batch, static_cast<int64_t>(batch.indices.size()) / options_.accum_freq * options_.accum_freq);
      const int64_t batch_rows = static_cast<int64_t>(batch.indices.size()) * ranks;  // equal slices
      if (batch_rows < 2) return std::nullopt;  // skipped images left too few for a contrastive batch
      if (new_run_) start_new_run(metrics);
      if (zero_optimizer_)
        zero_optimizer_->set_lr(lr);
      else
        optimizer_->set_lr(lr);
      TrainBatch train_batch{.images = {}, .tokens = {}, .rows = batch.indices, .global = global};
      for (const Tensor& view : batch.views) train_batch.images.push_back(upload(view));
      for (const Tensor& table : token_tables(batch)) train_batch.tokens.push_back(upload(table));
      StepValues values = train_step(train_batch);
      const double loss = values.losses.at("total");
      values.losses.erase("total");
      return StepResult{
          .loss = loss, .rows = batch_rows, .logit_scale = std::exp(values.logit_scale), .loss_parts = values.losses};
    };
    const int64_t samples = run_epoch(*source, loop, step_, take_step);
    // Every image skipped (moved data, wrong paths) would otherwise "train" no
    // step and save an unchanged model as if all went well.
    if (samples == 0 && loop.first_batch == 0)
      throw std::runtime_error("epoch " + std::to_string(epoch_ + 1) + " of '" + train_csv_ +
                               "' trained on no image: " + std::to_string(source->skipped_in_epoch()) +
                               " skipped (see the warnings); check that the data's image paths resolve");
    ++epoch_;
    batch_in_epoch_ = 0;
    std::vector<std::pair<std::string, Tensor>> state = optimizer_state();  // every rank: it may gather
    if (writes_files()) save_checkpoint(state, false);
    // No rank runs ahead of a checkpoint that failed (rank 0 then aborts the job).
    world_->barrier("barrier after the checkpoint of epoch " + std::to_string(epoch_));
    if (on_epoch && writes_files()) on_epoch(epoch_), model_->train();  // the hook may leave eval mode
  }
}

}  // namespace clipgrad::clip
