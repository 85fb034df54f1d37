// The defences' stages, and the quick demo: one experiment, reported per attack and seed.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "cleanclip/defense/supervised.h"
#include "cleanclip/objective.h"
#include "cleanclip/study_stages.h"
#include "clip/checkpoint/checkpoint.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

StageResult supervised_stage(const Study& study, const std::string& name, const fs::path& run,
                             const std::string& model_path, const std::string& pairs, double lr, uint64_t seed,
                             const AttackConfig* attack) {
  return stage(run, (run / "metrics.jsonl").string(), study.team, [&](const fs::path& work) {
    if (!study.team.leads()) return StageResult{};
    const StudyOptions& options = study.options;
    SupervisedOptions supervised;
    supervised.epochs = options.supervised_epochs;
    supervised.lr = lr;
    supervised.warmup_steps = options.finetune_warmup;
    supervised.batch_size = options.supervised_batch_size > 0 ? options.supervised_batch_size : options.batch_size;
    supervised.seed = seed;
    supervised.workers = options.workers;
    const std::string head_model = finetune_supervised(model_path, pairs, study.paths.classes_json(), work.string(),
                                                       supervised, [&](const SupervisedStep& step) {
                                                         if (study.progress) study.progress(name, step);
                                                       });
    SupervisedModel loaded = load_supervised_checkpoint(head_model);
    return evaluate(name, *loaded.model, study.paths.test_csv(), study, attack, head_classifier(loaded.head));
  });
}

}  // namespace

std::string Defence::stage_name() const {
  std::string name = kind + "-finetune";
  if (favoured_lambda2) name += "-l2-favoured";
  if (lambda2) name += "-l2-" + number_text(*lambda2);
  if (lr) name += "-lr-" + number_text(*lr);
  if (rows) name += "-rows-" + std::to_string(*rows);
  return name;
}

Defence resolved_defence(const Defence& defence, double lambda2, const StudyOptions& options) {
  Defence resolved = defence;
  if (defence.favoured_lambda2) {
    resolved.favoured_lambda2 = false;
    resolved.lambda2 = lambda2;  // the folder names the value, so a stage already run at it is shared
  }
  const double default_lr = defence.kind == "supervised" ? options.supervised_lr : options.finetune_lr;
  if (resolved.lr == default_lr) resolved.lr.reset();
  if (resolved.rows == options.finetune_rows) resolved.rows.reset();
  if (resolved.kind != "cleanclip" || resolved.lambda2 == options.lambda_inmodal) resolved.lambda2.reset();
  return resolved;
}

StageResult defence_stage(const Study& study, const Defence& defence, double lambda2, const fs::path& dir,
                          const std::string& model_path, const PoisonResult* poisoned, uint64_t seed, bool per_epoch) {
  const StudyOptions& options = study.options;
  const std::string name = resolved_defence(defence, lambda2, options).stage_name();
  const fs::path run = dir / name;
  if (auto done = finished_stage(run)) return *done;
  const int64_t rows = defence.rows.value_or(options.finetune_rows);
  std::string pairs = study.team.leads() ? clean_pairs(study, poisoned, rows, seed) : std::string();
  study.team.sync("writing the clean pairs");
  if (!study.team.leads()) pairs = clean_pairs(study, poisoned, rows, seed);  // written: its path
  const AttackConfig* attack = poisoned ? &poisoned->config : nullptr;
  if (defence.kind == "supervised")
    return supervised_stage(study, name, run, model_path, pairs, defence.lr.value_or(options.supervised_lr), seed,
                            attack);
  if (defence.kind != "clip" && defence.kind != "cleanclip")
    throw std::invalid_argument("demo: unknown defence '" + defence.kind + "': use clip, cleanclip or supervised");
  ObjectiveSource objective = [] { return std::make_unique<clip::ClipObjective>(); };
  if (defence.kind == "cleanclip")
    objective = [&] { return make_cleanclip_objective({{"lambda1", options.lambda_clip}, {"lambda2", lambda2}}); };
  const int64_t batch = options.finetune_batch_size > 0 ? options.finetune_batch_size : options.batch_size;
  return training_stage(
      study, name, run, [&] { return clip::load_clip(model_path).model; }, pairs,
      train_options(study, options.finetune_epochs, defence.lr.value_or(options.finetune_lr), options.finetune_warmup,
                    batch, seed),
      objective, attack, per_epoch);
}

Experiment quick_experiment(const StudyOptions& options) {
  Experiment experiment;
  experiment.name = "main";
  experiment.attacks = options.attacks;
  for (int64_t seed = options.first_seed; seed < options.first_seed + options.seeds; ++seed)
    experiment.seeds.push_back(seed);
  experiment.defences = {Defence{.kind = "clip"}, Defence{.kind = "cleanclip"}, Defence{.kind = "supervised"}};
  return experiment;
}

// The study's processes, folders and progress for `options` (checked before any work).
Study make_study(const StudyOptions& options, const StudyProgress& progress) {
  return Study{
      options,
      Team{options.world ? options.world : std::make_shared<distributed::SingleProcess>(), options.lead_work_timeout},
      StudyPaths{fs::path(options.out) / "data"}, progress};
}

std::vector<StudyResult> run_study(const StudyOptions& options, const StudyProgress& progress) {
  const Study study = make_study(options, progress);
  check_study_options(options, study.team, {quick_experiment(options)});
  if (study.team.leads())
    check_recipe_folder(options.out, {{"preset", "quick"}, {"options", options_to_json(options)}});
  import_data(study);
  std::vector<StudyResult> studies;
  for (int64_t seed = options.first_seed; seed < options.first_seed + options.seeds; ++seed) {
    for (const std::string& attack_name : options.attacks) {
      const uint64_t s = static_cast<uint64_t>(seed);
      const fs::path cell = study.seed_dir(s) / cell_folder(attack_name, options.poison_rate);
      const PoisonResult poisoned = poison(study, attack_name, options.poison_rate, s, cell);
      StudyResult result{attack_name, options.target, s, {}};
      result.stages.push_back(clean_pretrain(study, s, &poisoned.config));
      result.stages.push_back(poisoned_pretrain(study, cell, s, poisoned));
      const std::string model = (cell / "poisoned-pretrain" / "model.safetensors").string();
      for (const Defence& defence : quick_experiment(options).defences)
        result.stages.push_back(defence_stage(study, defence, options.lambda_inmodal, cell, model, &poisoned, s));
      studies.push_back(result);
      if (study.team.leads()) write_study_report(studies, options.out);  // the report so far
    }
  }
  return studies;
}

}  // namespace clipgrad::cleanclip
