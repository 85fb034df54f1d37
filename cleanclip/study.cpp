// The study's stages: data, poisoning, pretraining, the defences and their
// evaluation, each reused once finished (cleanclip/study_stages.h).
#include "cleanclip/study_stages.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "cleanclip/attack/asr.h"
#include "cleanclip/attack/poison.h"
#include "cleanclip/defense/classifier_head.h"
#include "cleanclip/defense/supervised.h"
#include "cleanclip/objective.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/data/fashion_mnist.h"
#include "clip/eval/zeroshot.h"
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/json.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double minutes_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count() / 60.0;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json number_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nullptr; }
double number_or_nan(const nlohmann::json& json) { return json.is_null() ? kNaN : json.get<double>(); }

// ---- stage results on disk: a finished stage is reused by a rerun ----

std::optional<StageResult> load_stage(const fs::path& dir) {
  if (!fs::exists(dir / "stage.json")) return std::nullopt;
  const nlohmann::json json = io::read_json_file((dir / "stage.json").string(), "stage file");
  StageResult stage;
  stage.name = json.at("name");
  stage.clean_top1 = json.at("clean_top1");
  stage.asr = number_or_nan(json.at("asr"));
  stage.asr_n = json.at("asr_n");
  stage.minutes = json.at("minutes");
  stage.metrics_path = json.at("metrics_path");
  return stage;
}

void save_stage(const fs::path& dir, const StageResult& stage) {
  nlohmann::json json{{"name", stage.name},   {"clean_top1", stage.clean_top1}, {"asr", number_or_null(stage.asr)},
                      {"asr_n", stage.asr_n}, {"minutes", stage.minutes},       {"metrics_path", stage.metrics_path}};
  io::write_file_atomic((dir / "stage.json").string(), json.dump(2) + "\n");
}

std::shared_ptr<clip::ClipModel> fresh_model(const std::string& name, uint64_t seed) {
  auto model = std::make_shared<clip::ClipModel>(clip::ClipConfig::named(name));
  Generator generator(seed);
  model->init_openai(generator);
  return model;
}

std::unique_ptr<clip::Objective> clip_objective() { return std::make_unique<clip::ClipObjective>(); }

// The first `rows` data rows of `source` (all of them when it has no more), written once to `path`.
std::string first_rows(const std::string& source, int64_t rows, const fs::path& path) {
  if (fs::exists(path)) return path.string();
  io::CsvTable table = io::read_csv(source);
  if (rows > static_cast<int64_t>(table.size()))
    throw std::invalid_argument("study: " + source + " has " + std::to_string(table.size()) + " rows, " +
                                std::to_string(rows) + " asked");
  table.rows.resize(static_cast<size_t>(rows));
  io::write_csv(path.string(), table.header, table.rows);
  return path.string();
}

// Fashion-MNIST: the first train_images rows pretrain; with a disjoint fine-tuning set, the next
// finetune_rows are finetune.csv.
void import_fashion_mnist(const StudyOptions& options, const StudyPaths& paths) {
  const bool disjoint = options.finetune_source == "disjoint";
  const int64_t limit =
      options.train_images < 0 || !disjoint ? options.train_images : options.train_images + options.finetune_rows;
  clip::prepare_fashion_mnist({.out = paths.data.string(),
                               .source = options.fashion_mnist,
                               .train_limit = limit,
                               .test_limit = options.test_images});
  if (!disjoint) return;
  io::CsvTable table = io::read_csv(paths.train_csv());
  if (options.train_images < 0 || static_cast<int64_t>(table.size()) < limit)
    throw std::invalid_argument("demo: a disjoint fine-tuning set needs train_images >= 0 and " +
                                std::to_string(limit) + " Fashion-MNIST training images");
  std::vector<std::vector<std::string>> finetune(table.rows.begin() + options.train_images, table.rows.end());
  table.rows.resize(static_cast<size_t>(options.train_images));
  io::write_csv(paths.finetune_csv(), table.header, finetune);
  io::write_csv(paths.train_csv(), table.header, table.rows);
}

}  // namespace

// ---- the study's frame ----

void Team::sync(const std::string& what) const {
  if (world->world_size() > 1) world->slow_barrier("barrier after " + what, lead_work_timeout);
}

int image_side(const StudyOptions& options) { return options.dataset == "scenes" ? options.scenes.canvas : 28; }

void import_data(const Study& study) {
  if (study.team.leads() && !fs::exists(study.paths.classes_json())) {
    const StudyOptions& options = study.options;
    if (options.dataset == "scenes") {
      clip::SceneOptions scenes = options.scenes;
      scenes.out = study.paths.data.string();
      scenes.fashion_mnist = options.fashion_mnist;
      clip::prepare_scenes(scenes);
    } else {
      import_fashion_mnist(options, study.paths);
    }
  }
  if (study.team.leads() && study.options.trajectory_test_images > 0)
    first_rows(study.paths.test_csv(), study.options.trajectory_test_images, study.paths.trajectory_csv());
  study.team.sync("importing the data");
}

// ---- evaluation ----

StageResult evaluate(const std::string& stage, clip::ClipModel& model, const std::string& test_csv, const Study& study,
                     const AttackConfig* attack, const Classifier& classifier) {
  clip::Tokenizer tokenizer;
  clip::ClassNames classes = clip::ClassNames::from_json(study.paths.classes_json());
  clip::LabelledDataset test = clip::LabelledDataset::from_csv(test_csv);
  StageResult result;
  result.name = stage;
  const Classifier scoring =
      classifier ? classifier : zero_shot_classifier(clip::zero_shot_weights(model, tokenizer, classes));
  const int workers = study.options.workers;
  result.clean_top1 =
      evaluate_classifier(model, scoring, static_cast<int64_t>(classes.classes.size()), test, workers).top1;
  result.asr = kNaN;
  if (attack) {
    AsrResult asr = attack_success_rate(model, test, classes, *attack,
                                        {.classifier = scoring, .tokenizer = &tokenizer, .workers = workers});
    result.asr = asr.asr;
    result.asr_n = asr.n;
  }
  return result;
}

StageResult evaluate(const std::string& stage, const std::string& model_path, const Study& study,
                     const AttackConfig* attack) {
  return evaluate(stage, *clip::load_clip(model_path).model, study.paths.test_csv(), study, attack, nullptr);
}

std::vector<EpochEvaluation> load_epochs(const fs::path& run) {
  std::vector<EpochEvaluation> epochs;
  if (!fs::exists(run / "epochs.json")) return epochs;
  for (const nlohmann::json& line : io::read_json_file((run / "epochs.json").string(), "epoch evaluations"))
    epochs.push_back({line.at("epoch"), line.at("clean_top1"), number_or_nan(line.at("asr"))});
  return epochs;
}

// After each epoch of a run: its model on the first test images, kept in RUN/epochs.json (an epoch
// evaluated before a resume keeps its line).
void evaluate_epoch(const Study& study, const fs::path& run, clip::ClipModel& model, int64_t epoch,
                    const AttackConfig* attack, const Classifier& classifier) {
  std::vector<EpochEvaluation> epochs = load_epochs(run);
  std::erase_if(epochs, [&](const EpochEvaluation& e) { return e.epoch >= epoch; });
  const StageResult result = evaluate("epoch", model, study.paths.trajectory_csv(), study, attack, classifier);
  epochs.push_back({epoch, result.clean_top1, result.asr});
  nlohmann::json json = nlohmann::json::array();
  for (const EpochEvaluation& e : epochs)
    json.push_back({{"epoch", e.epoch}, {"clean_top1", e.clean_top1}, {"asr", number_or_null(e.asr)}});
  io::write_file_atomic((run / "epochs.json").string(), json.dump(1) + "\n");
}

// ---- stages ----

StageResult stage(const fs::path& dir, const std::string& metrics, const Team& team,
                  const std::function<StageResult(const fs::path& work)>& body) {
  if (auto done = load_stage(dir)) return *done;
  const fs::path work = fs::path(dir).concat(".partial");
  if (team.leads() && fs::exists(dir) && !fs::exists(work)) fs::rename(dir, work);  // a stage of an older version
  team.sync("preparing stage " + dir.string());
  fs::create_directories(work);
  const auto start = Clock::now();
  StageResult result = body(work);
  if (team.leads()) {
    result.minutes = minutes_since(start);
    result.metrics_path = metrics;
    save_stage(work, result);
    fs::rename(work, dir);
  }
  team.sync("stage " + dir.string());
  return team.leads() ? result : load_stage(dir).value();
}

std::optional<StageResult> finished_stage(const fs::path& dir) { return load_stage(dir); }

clip::TrainOptions train_options(const Study& study, int64_t epochs, double lr, int64_t warmup, int64_t batch_size,
                                 uint64_t seed) {
  clip::TrainOptions train;
  train.epochs = epochs;
  train.batch_size = distributed::rows_per_rank(batch_size, study.team.world->world_size(), "demo --batch-size");
  train.lr = lr;
  train.warmup_steps = warmup;
  train.seed = seed;
  train.workers = study.options.workers;
  train.device = study.options.device;
  return train;
}

StageResult training_stage(const Study& study, const std::string& name, const fs::path& run, const ModelSource& model,
                           const std::string& csv, const clip::TrainOptions& train_options,
                           const ObjectiveSource& objective, const AttackConfig* attack, bool per_epoch) {
  return stage(run, (run / "metrics.jsonl").string(), study.team, [&](const fs::path& work) {
    auto on_step = [&](const clip::StepReport& report) {
      if (study.progress) study.progress(name, report);
    };
    std::function<void(int64_t)> on_epoch;
    std::optional<clip::Trainer> trainer;
    if (fs::exists(work / "checkpoint.safetensors")) {
      clip::ObjectiveRegistry registry;
      registry.add("cleanclip", make_cleanclip_objective);
      trainer.emplace(clip::Trainer::resume(work.string(), registry, study.team.world));
    } else {
      trainer.emplace(model(), csv, train_options, work.string(), objective(), study.team.world);
    }
    if (per_epoch && study.options.trajectory_test_images > 0)
      on_epoch = [&](int64_t epoch) { evaluate_epoch(study, work, trainer->model(), epoch, attack, nullptr); };
    trainer->run(on_step, on_epoch);
    const std::string model_path = (work / "model.safetensors").string();
    return study.team.leads() ? evaluate(name, model_path, study, attack) : StageResult{};
  });
}

std::string cell_folder(const std::string& attack, double rate) {
  if (!(rate > 0)) return attack;
  char name[64];
  std::snprintf(name, sizeof name, "%s-rate-%g", attack.c_str(), rate);
  return name;
}

AttackConfig study_attack(const StudyOptions& options, const std::string& attack_name, uint64_t seed) {
  AttackConfig attack;
  attack.kind = parse_attack_kind(attack_name);
  attack.target = options.target;
  attack.seed = seed;
  attack.patch_size = options.patch_size;
  attack.patch_location = parse_patch_location(options.patch_location);
  attack.fresh_noise = options.blend_fresh_noise;
  attack.wanet_k = options.wanet_k > 0 ? options.wanet_k : image_side(options);
  attack.wanet_s = options.wanet_s;
  return attack;
}

PoisonResult poison(const Study& study, const std::string& attack_name, double rate, uint64_t seed,
                    const fs::path& dir) {
  const StudyOptions& options = study.options;
  PoisonOptions poison;
  poison.data = study.paths.train_csv();
  poison.out = (dir / "poisoned-data").string();
  poison.attack = study_attack(options, attack_name, seed);
  if (rate > 0)
    poison.rate = rate;
  else
    poison.num = options.poison_count;
  const fs::path attack_json = dir / "poisoned-data" / "attack.json";
  const fs::path poisoned_csv = dir / "poisoned-data" / "train.csv";
  if (study.team.leads() && !(fs::exists(attack_json) && fs::exists(poisoned_csv))) poison_dataset(poison);
  study.team.sync("poisoning " + poison.out);
  return PoisonResult{AttackConfig::load(attack_json.string()), poisoned_csv.string(), attack_json.string(), 0, {}};
}

StageResult clean_pretrain(const Study& study, uint64_t seed, const AttackConfig* attack) {
  const StudyOptions& options = study.options;
  const fs::path run = study.seed_dir(seed) / "clean-pretrain";
  StageResult clean = training_stage(
      study, "clean-pretrain", run, [&] { return fresh_model(options.model, seed); }, study.paths.train_csv(),
      train_options(study, options.pretrain_epochs, options.pretrain_lr, options.pretrain_warmup, options.batch_size,
                    seed),
      clip_objective, nullptr);
  if (!attack || !study.team.leads()) return clean;
  // The clean model's ASR against this attack's trigger, measured once per attack.
  const fs::path asr_file = run / ("asr-" + attack_name(attack->kind) + ".json");
  if (!fs::exists(asr_file)) {
    const StageResult measured = evaluate("clean-pretrain", (run / "model.safetensors").string(), study, attack);
    io::write_file_atomic(asr_file.string(), nlohmann::json{{"asr", measured.asr}, {"asr_n", measured.asr_n}}.dump());
  }
  const nlohmann::json asr = io::read_json_file(asr_file.string(), "clean model's ASR");
  clean.asr = asr.at("asr");
  clean.asr_n = asr.at("asr_n");
  return clean;
}

StageResult poisoned_pretrain(const Study& study, const fs::path& cell, uint64_t seed, const PoisonResult& poisoned) {
  const StudyOptions& options = study.options;
  return training_stage(
      study, "poisoned-pretrain", cell / "poisoned-pretrain", [&] { return fresh_model(options.model, seed); },
      poisoned.train_csv,
      train_options(study, options.pretrain_epochs, options.pretrain_lr, options.pretrain_warmup, options.batch_size,
                    seed),
      clip_objective, &poisoned.config);
}

// The defences' clean pairs: the first `rows` of the disjoint set, or `rows` clean rows of the
// poisoned set (chosen by the seed) beside it, so that its relative image paths still resolve.
std::string clean_pairs(const Study& study, const PoisonResult* poisoned, int64_t rows, uint64_t seed) {
  const std::string suffix =
      rows == study.options.finetune_rows ? std::string() : std::string("-") + std::to_string(rows);
  if (study.options.finetune_source == "disjoint")
    return first_rows(study.paths.finetune_csv(), rows, study.paths.data / ("finetune" + suffix + ".csv"));
  if (!poisoned) throw std::invalid_argument("demo: defences of a clean model need finetune_source \"disjoint\"");
  const fs::path path = fs::path(poisoned->train_csv).parent_path() / ("finetune" + suffix + ".csv");
  if (fs::exists(path)) return path.string();
  io::CsvTable table = io::read_csv(poisoned->train_csv);
  const int flag = table.require_column("is_backdoor");
  std::vector<int64_t> clean;
  for (size_t row = 0; row < table.size(); ++row)
    if (table.rows[row][flag] == "0") clean.push_back(static_cast<int64_t>(row));
  if (rows > static_cast<int64_t>(clean.size()))
    throw std::invalid_argument("the fine-tuning subset needs " + std::to_string(rows) + " clean rows; " +
                                poisoned->train_csv + " has " + std::to_string(clean.size()));
  std::vector<std::vector<std::string>> chosen;
  for (int64_t row : choose_rows(clean, rows, seed ^ 0x5eedf17eULL)) chosen.push_back(table.rows[row]);
  io::write_csv(path.string(), table.header, chosen);
  return path.string();
}

}  // namespace clipgrad::cleanclip
