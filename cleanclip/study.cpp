#include "cleanclip/study.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
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

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The study's processes: all of them train; rank 0 (the lead) alone writes
// the study's files and evaluates.
struct Team {
  std::shared_ptr<dist::Communicator> world;
  std::chrono::milliseconds lead_work_timeout;
  bool leads() const { return world->rank() == 0; }
  // Every rank goes on once the lead has finished what came before.
  void sync(const std::string& what) const {
    if (world->world_size() > 1) world->slow_barrier("barrier after " + what, lead_work_timeout);
  }
};

double minutes_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count() / 60.0;
}

// ---- stage results on disk: a finished stage is reused by a rerun ----

nlohmann::json stage_to_json(const StageResult& stage) {
  nlohmann::json json{{"name", stage.name},   {"clean_top1", stage.clean_top1}, {"asr_n", stage.asr_n},
                      {"minutes", stage.minutes}, {"metrics_path", stage.metrics_path}};
  json["asr"] = std::isnan(stage.asr) ? nlohmann::json(nullptr) : nlohmann::json(stage.asr);
  return json;
}

std::optional<StageResult> load_stage(const fs::path& dir) {
  std::ifstream in(dir / "stage.json");
  if (!in) return std::nullopt;
  nlohmann::json json = nlohmann::json::parse(in);
  StageResult stage;
  stage.name = json.at("name");
  stage.clean_top1 = json.at("clean_top1");
  stage.asr = json.at("asr").is_null() ? std::numeric_limits<double>::quiet_NaN() : json.at("asr").get<double>();
  stage.asr_n = json.at("asr_n");
  stage.minutes = json.at("minutes");
  stage.metrics_path = json.at("metrics_path");
  return stage;
}

void save_stage(const fs::path& dir, const StageResult& stage) {
  io::write_file_atomic((dir / "stage.json").string(), stage_to_json(stage).dump(2) + "\n");
}

// ---- the pieces of one stage ----

struct Paths {
  fs::path data;  // the imported Fashion-MNIST
  std::string train_csv() const { return (data / "train.csv").string(); }
  std::string test_csv() const { return (data / "test.csv").string(); }
  std::string classes_json() const { return (data / "classes.json").string(); }
};

clip::TrainOptions train_options(const StudyOptions& options, const Team& team, int64_t epochs, double lr,
                                 int64_t warmup, uint64_t seed) {
  clip::TrainOptions train;
  train.epochs = epochs;
  train.batch_size = dist::rows_per_rank(options.batch_size, team.world->world_size(), "demo --batch-size");
  train.lr = lr;
  train.warmup_steps = warmup;
  train.seed = seed;
  train.workers = options.workers;
  train.device = options.device;
  return train;
}

// Trains (or, after a kill, resumes) the run in run_dir; returns its model file.
std::string train(const std::string& stage, const fs::path& run_dir, const std::function<std::shared_ptr<clip::ClipModel>()>& model,
                  const std::string& csv, const clip::TrainOptions& train_options,
                  const std::function<std::unique_ptr<clip::Objective>()>& objective, const StudyProgress& progress,
                  const Team& team) {
  auto on_step = [&](const clip::StepReport& report) {
    if (progress) progress(stage, report);
  };
  if (fs::exists(run_dir / "checkpoint.safetensors")) {
    clip::ObjectiveRegistry registry;
    registry.add("cleanclip", make_cleanclip_objective);
    clip::Trainer trainer = clip::Trainer::resume(run_dir.string(), registry, team.world);
    trainer.run(on_step);
  } else {
    clip::Trainer trainer(model(), csv, train_options, run_dir.string(), objective(), team.world);
    trainer.run(on_step);
  }
  return (run_dir / "model.safetensors").string();
}

// Clean top-1 on the test set and the attack's success rate, through
// `classifier` (empty: zero-shot).
StageResult evaluate(const std::string& stage, clip::ClipModel& model, const Paths& paths, const AttackConfig& attack,
                     const StudyOptions& options, const Classifier& classifier) {
  clip::Tokenizer tokenizer;
  clip::ClassNames classes = clip::ClassNames::from_json(paths.classes_json());
  clip::LabelledDataset test = clip::LabelledDataset::from_csv(paths.test_csv());
  StageResult result;
  result.name = stage;
  const Classifier scoring =
      classifier ? classifier : zero_shot_classifier(clip::zero_shot_weights(model, tokenizer, classes));
  result.clean_top1 =
      evaluate_classifier(model, scoring, static_cast<int64_t>(classes.classes.size()), test, options.workers).top1;
  AsrResult asr = attack_success_rate(model, test, classes, attack,
                                      {.classifier = scoring, .tokenizer = &tokenizer, .workers = options.workers});
  result.asr = asr.asr;
  result.asr_n = asr.n;
  return result;
}

StageResult evaluate(const std::string& stage, const std::string& model_path, const Paths& paths,
                     const AttackConfig& attack, const StudyOptions& options) {
  return evaluate(stage, *clip::load_clip(model_path).model, paths, attack, options, nullptr);
}

// The defences' training CSV: finetune.csv beside the poisoned one (so its
// relative image paths still resolve).
std::string clean_subset_path(const PoisonResult& poisoned) {
  return (fs::path(poisoned.train_csv).parent_path() / "finetune.csv").string();
}

// `count` rows of the poisoned training CSV that carry no trigger, written to clean_subset_path.
void write_clean_subset(const PoisonResult& poisoned, int64_t count, uint64_t seed) {
  io::CsvTable table = io::read_csv(poisoned.train_csv);
  const int flag = table.require_column("is_backdoor");
  std::vector<int64_t> clean;
  for (size_t row = 0; row < table.size(); ++row)
    if (table.rows[row][flag] == "0") clean.push_back(static_cast<int64_t>(row));
  if (count > static_cast<int64_t>(clean.size()))
    throw std::invalid_argument("the fine-tuning subset needs " + std::to_string(count) + " clean rows; " +
                                poisoned.train_csv + " has " + std::to_string(clean.size()));
  std::vector<std::vector<std::string>> rows;
  for (int64_t row : choose_rows(clean, count, seed ^ 0x5eedf17eULL)) rows.push_back(table.rows[row]);
  io::write_csv(clean_subset_path(poisoned), table.header, rows);
}

std::shared_ptr<clip::ClipModel> fresh_model(const std::string& name, uint64_t seed) {
  auto model = std::make_shared<clip::ClipModel>(clip::ClipConfig::named(name));
  Generator generator(seed);
  model->init_openai(generator);
  return model;
}

// Runs `body` for a stage unless its stage.json exists; times it and saves
// the result (the lead's: body returns the result on the lead alone).
StageResult stage(const fs::path& dir, const std::string& metrics, const Team& team,
                  const std::function<StageResult()>& body) {
  if (auto done = load_stage(dir)) return *done;
  fs::create_directories(dir);
  const auto start = Clock::now();
  StageResult result = body();
  if (team.leads()) {
    result.minutes = minutes_since(start);
    result.metrics_path = metrics;
    save_stage(dir, result);
  }
  team.sync("stage " + dir.string());
  return team.leads() ? result : load_stage(dir).value();
}

// The recipe a study folder was made with: a rerun reuses finished stages only
// when it asks for the same one.
nlohmann::json recipe_json(const StudyOptions& o) {
  return {{"train_images", o.train_images},     {"test_images", o.test_images}, {"model", o.model},
          {"batch_size", o.batch_size},         {"pretrain_epochs", o.pretrain_epochs},
          {"pretrain_lr", o.pretrain_lr},       {"pretrain_warmup", o.pretrain_warmup},
          {"target", o.target},                 {"poison_count", o.poison_count},
          {"patch_size", o.patch_size},         {"patch_location", o.patch_location},
          {"wanet_k", o.wanet_k},               {"wanet_s", o.wanet_s},
          {"finetune_rows", o.finetune_rows},
          {"finetune_epochs", o.finetune_epochs}, {"finetune_lr", o.finetune_lr},
          {"finetune_warmup", o.finetune_warmup}, {"lambda_clip", o.lambda_clip},
          {"lambda_inmodal", o.lambda_inmodal}, {"supervised_epochs", o.supervised_epochs},
          {"supervised_lr", o.supervised_lr}};
}

void check_recipe(const fs::path& out, const StudyOptions& options) {
  const fs::path path = out / "recipe.json";
  const nlohmann::json recipe = recipe_json(options);
  if (fs::exists(path)) {
    nlohmann::json earlier = nlohmann::json::parse(std::ifstream(path));
    if (earlier != recipe)
      throw std::invalid_argument("demo: " + out.string() + " holds a study made with another recipe (" +
                                  path.string() + ": " + earlier.dump() + "); use another --out");
    return;
  }
  fs::create_directories(out);
  io::write_file_atomic(path.string(), recipe.dump(2) + "\n");
}

}  // namespace

std::vector<StudyResult> run_study(const StudyOptions& options, const StudyProgress& progress) {
  if (options.attacks.empty() || options.seeds < 1 || options.first_seed < 0)
    throw std::invalid_argument("demo: no attack or no seed to run");
  parse_patch_location(options.patch_location);  // fail before any work
  for (const std::string& attack : options.attacks) parse_attack_kind(attack);  // fail before any work
  const Team team{options.world ? options.world : std::make_shared<dist::SingleProcess>(), options.lead_work_timeout};
  dist::rows_per_rank(options.batch_size, team.world->world_size(), "demo --batch-size");  // fail before any work
  const fs::path out(options.out);
  Paths paths{out / "data"};
  if (team.leads()) {
    check_recipe(out, options);
    if (!fs::exists(paths.classes_json()))
      clip::prepare_fashion_mnist(
          {.out = paths.data.string(), .source = options.fashion_mnist, .train_limit = options.train_images,
           .test_limit = options.test_images});
  }
  team.sync("importing the data");

  std::vector<StudyResult> studies;
  for (int64_t seed = options.first_seed; seed < options.first_seed + options.seeds; ++seed) {
    const uint64_t s = static_cast<uint64_t>(seed);
    const fs::path seed_dir = out / ("seed" + std::to_string(seed));
    const fs::path clean_run = seed_dir / "clean-pretrain";
    for (const std::string& attack_name : options.attacks) {
      const fs::path dir = seed_dir / attack_name;
      StudyResult study{attack_name, options.target, s, {}};

      // The poisoned set first: the clean model is evaluated against its trigger too.
      PoisonOptions poison;
      poison.data = paths.train_csv();
      poison.out = (dir / "poisoned-data").string();
      poison.attack.kind = parse_attack_kind(attack_name);
      poison.attack.target = options.target;
      poison.attack.seed = s;
      poison.attack.patch_size = options.patch_size;
      poison.attack.patch_location = parse_patch_location(options.patch_location);
      poison.attack.wanet_k = options.wanet_k;
      poison.attack.wanet_s = options.wanet_s;
      poison.num = options.poison_count;
      const fs::path attack_json = dir / "poisoned-data" / "attack.json";
      const fs::path poisoned_csv = dir / "poisoned-data" / "train.csv";
      if (team.leads() && !(fs::exists(attack_json) && fs::exists(poisoned_csv))) poison_dataset(poison);
      team.sync("poisoning " + poison.out);
      const PoisonResult poisoned{AttackConfig::load(attack_json.string()), poisoned_csv.string(),
                                  attack_json.string(), 0};
      const AttackConfig& attack = poisoned.config;

      auto clip_objective = [] { return std::make_unique<clip::ClipObjective>(); };
      auto trained = [&](const std::string& name, const fs::path& run, std::function<std::shared_ptr<clip::ClipModel>()> model,
                         const std::string& csv, const clip::TrainOptions& train_options,
                         std::function<std::unique_ptr<clip::Objective>()> objective) {
        return stage(run, (run / "metrics.jsonl").string(), team, [&] {
          std::string model_path = train(name, run, model, csv, train_options, objective, progress, team);
          return team.leads() ? evaluate(name, model_path, paths, attack, options) : StageResult{};
        });
      };

      // The clean model is shared by the attacks of a seed; each measures its own ASR on it.
      StageResult clean = trained("clean-pretrain", clean_run, [&] { return fresh_model(options.model, s); },
                                  paths.train_csv(),
                                  train_options(options, team, options.pretrain_epochs, options.pretrain_lr,
                                                options.pretrain_warmup, s),
                                  clip_objective);
      if (team.leads()) {
        const StageResult clean_against_this_attack =
            evaluate("clean-pretrain", (clean_run / "model.safetensors").string(), paths, attack, options);
        clean.asr = clean_against_this_attack.asr;
        clean.asr_n = clean_against_this_attack.asr_n;
      }
      study.stages.push_back(clean);

      const fs::path poisoned_run = dir / "poisoned-pretrain";
      study.stages.push_back(trained("poisoned-pretrain", poisoned_run, [&] { return fresh_model(options.model, s); },
                                     poisoned.train_csv,
                                     train_options(options, team, options.pretrain_epochs, options.pretrain_lr,
                                                   options.pretrain_warmup, s),
                                     clip_objective));
      const std::string poisoned_model = (poisoned_run / "model.safetensors").string();
      if (team.leads()) write_clean_subset(poisoned, options.finetune_rows, s);
      team.sync("writing the clean subset");
      const std::string finetune_csv = clean_subset_path(poisoned);
      auto from_poisoned = [&] { return clip::load_clip(poisoned_model).model; };
      const clip::TrainOptions finetune = train_options(options, team, options.finetune_epochs, options.finetune_lr,
                                                        options.finetune_warmup, s);
      study.stages.push_back(trained("clip-finetune", dir / "clip-finetune", from_poisoned, finetune_csv, finetune,
                                     clip_objective));
      study.stages.push_back(trained("cleanclip-finetune", dir / "cleanclip-finetune", from_poisoned, finetune_csv,
                                     finetune, [&] {
                                       return make_cleanclip_objective(
                                           {{"lambda1", options.lambda_clip}, {"lambda2", options.lambda_inmodal}});
                                     }));

      const fs::path supervised_run = dir / "supervised-finetune";
      // The supervised defence is not data parallel: the lead runs it.
      study.stages.push_back(stage(supervised_run, (supervised_run / "metrics.jsonl").string(), team, [&] {
        if (!team.leads()) return StageResult{};
        SupervisedOptions supervised;
        supervised.epochs = options.supervised_epochs;
        supervised.lr = options.supervised_lr;
        supervised.warmup_steps = options.finetune_warmup;
        supervised.batch_size = options.batch_size;
        supervised.seed = s;
        supervised.workers = options.workers;
        const std::string head_model =
            finetune_supervised(poisoned_model, finetune_csv, paths.classes_json(), supervised_run.string(), supervised,
                                [&](const SupervisedStep& step) {
                                  if (progress) progress("supervised-finetune", step);
                                });
        SupervisedModel loaded = load_supervised_checkpoint(head_model);
        return evaluate("supervised-finetune", *loaded.model, paths, attack, options, head_classifier(loaded.head));
      }));
      studies.push_back(study);
      if (team.leads()) write_study_report(studies, out.string());
    }
  }
  return studies;
}

}  // namespace clipgrad::cleanclip
