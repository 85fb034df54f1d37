#include "cleanclip/study.h"

#include <chrono>
#include <cmath>
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

// The study's processes: all of them train; rank 0 (the lead) alone writes
// the study's files and evaluates.
struct Team {
  std::shared_ptr<distributed::Communicator> world;
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
  nlohmann::json json{{"name", stage.name},
                      {"clean_top1", stage.clean_top1},
                      {"asr_n", stage.asr_n},
                      {"minutes", stage.minutes},
                      {"metrics_path", stage.metrics_path}};
  json["asr"] = std::isnan(stage.asr) ? nlohmann::json(nullptr) : nlohmann::json(stage.asr);
  return json;
}

std::optional<StageResult> load_stage(const fs::path& dir) {
  if (!fs::exists(dir / "stage.json")) return std::nullopt;
  const nlohmann::json json = io::read_json_file((dir / "stage.json").string(), "stage file");
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

// The recipe a study folder was made with: a rerun reuses finished stages only
// when it asks for the same one.
nlohmann::json recipe_json(const StudyOptions& o) {
  return {{"train_images", o.train_images},
          {"test_images", o.test_images},
          {"model", o.model},
          {"batch_size", o.batch_size},
          {"pretrain_epochs", o.pretrain_epochs},
          {"pretrain_lr", o.pretrain_lr},
          {"pretrain_warmup", o.pretrain_warmup},
          {"target", o.target},
          {"poison_count", o.poison_count},
          {"patch_size", o.patch_size},
          {"patch_location", o.patch_location},
          {"wanet_k", o.wanet_k},
          {"wanet_s", o.wanet_s},
          {"finetune_rows", o.finetune_rows},
          {"finetune_epochs", o.finetune_epochs},
          {"finetune_lr", o.finetune_lr},
          {"finetune_warmup", o.finetune_warmup},
          {"lambda_clip", o.lambda_clip},
          {"lambda_inmodal", o.lambda_inmodal},
          {"supervised_epochs", o.supervised_epochs},
          {"supervised_lr", o.supervised_lr}};
}

void check_recipe(const fs::path& out, const StudyOptions& options) {
  const fs::path path = out / "recipe.json";
  const nlohmann::json recipe = recipe_json(options);
  if (fs::exists(path)) {
    const nlohmann::json earlier = io::read_json_file(path.string(), "study recipe");
    if (earlier != recipe)
      throw std::invalid_argument("demo: " + out.string() + " holds a study made with another recipe (" +
                                  path.string() + ": " + io::json_excerpt(earlier, 400) + "); use another --out");
    return;
  }
  fs::create_directories(out);
  io::write_file_atomic(path.string(), recipe.dump(2) + "\n");
}

// ---- the stages ----

// One study's run: what every stage needs.
struct Study {
  const StudyOptions& options;
  Team team;
  Paths paths;
  const StudyProgress& progress;
};

// Runs `body` for a stage unless its stage.json exists; times it and saves
// the result (the lead's: body returns the result on the lead alone). The
// stage works in DIR.partial (where a rerun resumes it), renamed to DIR with
// its stage.json: a stage folder exists whole or not at all.
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

clip::TrainOptions train_options(const Study& study, int64_t epochs, double lr, int64_t warmup, uint64_t seed) {
  clip::TrainOptions train;
  train.epochs = epochs;
  train.batch_size =
      distributed::rows_per_rank(study.options.batch_size, study.team.world->world_size(), "demo --batch-size");
  train.lr = lr;
  train.warmup_steps = warmup;
  train.seed = seed;
  train.workers = study.options.workers;
  train.device = study.options.device;
  return train;
}

using ModelSource = std::function<std::shared_ptr<clip::ClipModel>()>;
using ObjectiveSource = std::function<std::unique_ptr<clip::Objective>()>;

// Trains (or, after a kill, resumes) the run in run_dir; returns its model file.
std::string train(const Study& study, const std::string& stage, const fs::path& run_dir, const ModelSource& model,
                  const std::string& csv, const clip::TrainOptions& train_options, const ObjectiveSource& objective) {
  auto on_step = [&](const clip::StepReport& report) {
    if (study.progress) study.progress(stage, report);
  };
  if (fs::exists(run_dir / "checkpoint.safetensors")) {
    clip::ObjectiveRegistry registry;
    registry.add("cleanclip", make_cleanclip_objective);
    clip::Trainer trainer = clip::Trainer::resume(run_dir.string(), registry, study.team.world);
    trainer.run(on_step);
  } else {
    clip::Trainer trainer(model(), csv, train_options, run_dir.string(), objective(), study.team.world);
    trainer.run(on_step);
  }
  return (run_dir / "model.safetensors").string();
}

// A contrastive training stage (every process trains), then the lead evaluates its model.
StageResult training_stage(const Study& study, const std::string& name, const fs::path& run, const ModelSource& model,
                           const std::string& csv, const clip::TrainOptions& train_options,
                           const ObjectiveSource& objective, const AttackConfig& attack) {
  return stage(run, (run / "metrics.jsonl").string(), study.team, [&](const fs::path& work) {
    std::string model_path = train(study, name, work, model, csv, train_options, objective);
    return study.team.leads() ? evaluate(name, model_path, study.paths, attack, study.options) : StageResult{};
  });
}

std::unique_ptr<clip::Objective> clip_objective() { return std::make_unique<clip::ClipObjective>(); }

// The lead checks the folder's recipe and imports Fashion-MNIST once; everyone waits for it.
void import_data(const Study& study) {
  const fs::path out(study.options.out);
  if (study.team.leads()) {
    check_recipe(out, study.options);
    if (!fs::exists(study.paths.classes_json()))
      clip::prepare_fashion_mnist({.out = study.paths.data.string(),
                                   .source = study.options.fashion_mnist,
                                   .train_limit = study.options.train_images,
                                   .test_limit = study.options.test_images});
  }
  study.team.sync("importing the data");
}

// The poisoned training set in dir/poisoned-data (made once, by the lead).
PoisonResult poison(const Study& study, const std::string& attack_name, uint64_t seed, const fs::path& dir) {
  const StudyOptions& options = study.options;
  PoisonOptions poison;
  poison.data = study.paths.train_csv();
  poison.out = (dir / "poisoned-data").string();
  poison.attack.kind = parse_attack_kind(attack_name);
  poison.attack.target = options.target;
  poison.attack.seed = seed;
  poison.attack.patch_size = options.patch_size;
  poison.attack.patch_location = parse_patch_location(options.patch_location);
  poison.attack.wanet_k = options.wanet_k;
  poison.attack.wanet_s = options.wanet_s;
  poison.num = options.poison_count;
  const fs::path attack_json = dir / "poisoned-data" / "attack.json";
  const fs::path poisoned_csv = dir / "poisoned-data" / "train.csv";
  if (study.team.leads() && !(fs::exists(attack_json) && fs::exists(poisoned_csv))) poison_dataset(poison);
  study.team.sync("poisoning " + poison.out);
  return PoisonResult{AttackConfig::load(attack_json.string()), poisoned_csv.string(), attack_json.string(), 0, {}};
}

// The clean model, trained once per seed and shared by its attacks; each measures its own ASR on it.
StageResult clean_pretrain(const Study& study, const fs::path& run, uint64_t seed, const AttackConfig& attack) {
  const StudyOptions& options = study.options;
  StageResult clean = training_stage(
      study, "clean-pretrain", run, [&] { return fresh_model(options.model, seed); }, study.paths.train_csv(),
      train_options(study, options.pretrain_epochs, options.pretrain_lr, options.pretrain_warmup, seed), clip_objective,
      attack);
  if (study.team.leads()) {
    const StageResult clean_against_this_attack =
        evaluate("clean-pretrain", (run / "model.safetensors").string(), study.paths, attack, options);
    clean.asr = clean_against_this_attack.asr;
    clean.asr_n = clean_against_this_attack.asr_n;
  }
  return clean;
}

// The poisoned model, trained from scratch on the poisoned set.
StageResult poisoned_pretrain(const Study& study, const fs::path& run, uint64_t seed, const PoisonResult& poisoned) {
  const StudyOptions& options = study.options;
  return training_stage(
      study, "poisoned-pretrain", run, [&] { return fresh_model(options.model, seed); }, poisoned.train_csv,
      train_options(study, options.pretrain_epochs, options.pretrain_lr, options.pretrain_warmup, seed), clip_objective,
      poisoned.config);
}

// The defences' clean pairs (written by the lead); returns their CSV.
std::string finetune_subset(const Study& study, const PoisonResult& poisoned, uint64_t seed) {
  if (study.team.leads()) write_clean_subset(poisoned, study.options.finetune_rows, seed);
  study.team.sync("writing the clean subset");
  return clean_subset_path(poisoned);
}

// The poisoned model fine-tuned on the clean pairs with `objective` (the CLIP loss alone, or CleanCLIP).
StageResult contrastive_finetune(const Study& study, const std::string& name, const fs::path& run,
                                 const std::string& poisoned_model, const std::string& finetune_csv, uint64_t seed,
                                 const ObjectiveSource& objective, const AttackConfig& attack) {
  const StudyOptions& options = study.options;
  return training_stage(
      study, name, run, [&] { return clip::load_clip(poisoned_model).model; }, finetune_csv,
      train_options(study, options.finetune_epochs, options.finetune_lr, options.finetune_warmup, seed), objective,
      attack);
}

// The supervised defence on the clean pairs. It is not data parallel: the lead runs it.
StageResult supervised_finetune(const Study& study, const fs::path& run, const std::string& poisoned_model,
                                const std::string& finetune_csv, uint64_t seed, const AttackConfig& attack) {
  return stage(run, (run / "metrics.jsonl").string(), study.team, [&](const fs::path& work) {
    if (!study.team.leads()) return StageResult{};
    const StudyOptions& options = study.options;
    SupervisedOptions supervised;
    supervised.epochs = options.supervised_epochs;
    supervised.lr = options.supervised_lr;
    supervised.warmup_steps = options.finetune_warmup;
    supervised.batch_size = options.batch_size;
    supervised.seed = seed;
    supervised.workers = options.workers;
    const std::string head_model = finetune_supervised(poisoned_model, finetune_csv, study.paths.classes_json(),
                                                       work.string(), supervised, [&](const SupervisedStep& step) {
                                                         if (study.progress)
                                                           study.progress("supervised-finetune", step);
                                                       });
    SupervisedModel loaded = load_supervised_checkpoint(head_model);
    return evaluate("supervised-finetune", *loaded.model, study.paths, attack, options, head_classifier(loaded.head));
  });
}

// Every stage of one attack at one seed, in order.
StudyResult run_attack(const Study& study, const std::string& attack_name, uint64_t seed) {
  const fs::path seed_dir = fs::path(study.options.out) / ("seed" + std::to_string(seed));
  const fs::path dir = seed_dir / attack_name;
  StudyResult result{attack_name, study.options.target, seed, {}};
  // The poisoned set first: the clean model is evaluated against its trigger too.
  const PoisonResult poisoned = poison(study, attack_name, seed, dir);
  const AttackConfig& attack = poisoned.config;
  result.stages.push_back(clean_pretrain(study, seed_dir / "clean-pretrain", seed, attack));
  result.stages.push_back(poisoned_pretrain(study, dir / "poisoned-pretrain", seed, poisoned));
  const std::string poisoned_model = (dir / "poisoned-pretrain" / "model.safetensors").string();
  const std::string finetune_csv = finetune_subset(study, poisoned, seed);
  result.stages.push_back(contrastive_finetune(study, "clip-finetune", dir / "clip-finetune", poisoned_model,
                                               finetune_csv, seed, clip_objective, attack));
  const StudyOptions& options = study.options;
  result.stages.push_back(contrastive_finetune(
      study, "cleanclip-finetune", dir / "cleanclip-finetune", poisoned_model, finetune_csv, seed,
      [&] {
        return make_cleanclip_objective({{"lambda1", options.lambda_clip}, {"lambda2", options.lambda_inmodal}});
      },
      attack));
  result.stages.push_back(
      supervised_finetune(study, dir / "supervised-finetune", poisoned_model, finetune_csv, seed, attack));
  return result;
}

// Fails before any work on options that a later stage would refuse.
void check_options(const StudyOptions& options, const Team& team) {
  if (options.attacks.empty() || options.seeds < 1 || options.first_seed < 0)
    throw std::invalid_argument("demo: no attack or no seed to run");
  parse_patch_location(options.patch_location);
  for (const std::string& attack : options.attacks) parse_attack_kind(attack);
  distributed::rows_per_rank(options.batch_size, team.world->world_size(), "demo --batch-size");
}

}  // namespace

std::vector<StudyResult> run_study(const StudyOptions& options, const StudyProgress& progress) {
  const Study study{
      options,
      Team{options.world ? options.world : std::make_shared<distributed::SingleProcess>(), options.lead_work_timeout},
      Paths{fs::path(options.out) / "data"}, progress};
  check_options(options, study.team);
  import_data(study);
  std::vector<StudyResult> studies;
  for (int64_t seed = options.first_seed; seed < options.first_seed + options.seeds; ++seed) {
    for (const std::string& attack : options.attacks) {
      studies.push_back(run_attack(study, attack, static_cast<uint64_t>(seed)));
      if (study.team.leads()) write_study_report(studies, options.out);  // the report so far
    }
  }
  return studies;
}

}  // namespace clipgrad::cleanclip
