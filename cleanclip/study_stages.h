// The pieces the study's runners share (cleanclip/study.h): where things are,
// the processes, and one function per kind of stage. Internal to cleanclip/.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cleanclip/attack/asr.h"
#include "cleanclip/attack/poison.h"
#include "cleanclip/report/grid_report.h"
#include "cleanclip/study.h"

namespace clipgrad::cleanclip {

// The study's processes: all of them train; rank 0 (the lead) alone writes the study's files and evaluates.
struct Team {
  std::shared_ptr<distributed::Communicator> world;
  std::chrono::milliseconds lead_work_timeout;
  bool leads() const { return world->rank() == 0; }
  // Every rank goes on once the lead has finished what came before.
  void sync(const std::string& what) const;
};

struct StudyPaths {
  std::filesystem::path data;  // the imported data set
  std::string train_csv() const { return (data / "train.csv").string(); }
  std::string finetune_csv() const { return (data / "finetune.csv").string(); }  // the disjoint clean set
  std::string test_csv() const { return (data / "test.csv").string(); }
  std::string trajectory_csv() const { return (data / "test-trajectory.csv").string(); }  // the first test rows
  std::string classes_json() const { return (data / "classes.json").string(); }
};

// One study's run: what every stage needs.
struct Study {
  const StudyOptions& options;
  Team team;
  StudyPaths paths;
  const StudyProgress& progress;
  std::filesystem::path seed_dir(uint64_t seed) const {
    return std::filesystem::path(options.out) / ("seed" + std::to_string(seed));
  }
};

// The study's processes, folders and progress for `options`.
Study make_study(const StudyOptions& options, const StudyProgress& progress);
// Fails before any work on options or experiments that a later stage would refuse.
void check_study_options(const StudyOptions& options, const Team& team, const std::vector<Experiment>& experiments);
// The lead writes OUT/recipe.json ({"preset", "options"} or the whole recipe) on the first run and
// refuses a folder made with other options; an option the folder's recipe lacks (added to the code
// since) counts as at its default.
void check_recipe_folder(const std::string& out, const nlohmann::json& recipe);

// The side of the data's (square) images: 28 for Fashion-MNIST, the canvas for scenes.
int image_side(const StudyOptions& options);

// The lead imports the data once (and the trajectory's test rows); everyone waits for it.
void import_data(const Study& study);

// Clean top-1 on `test_csv` and, with an attack, its success rate, through `classifier` (empty: zero-shot).
StageResult evaluate(const std::string& stage, clip::ClipModel& model, const std::string& test_csv, const Study& study,
                     const AttackConfig* attack, const Classifier& classifier);

struct EpochEvaluation {
  int64_t epoch = 0;  // 1-based: after that many epochs
  double clean_top1 = 0, asr = 0;
};
// RUN/epochs.json, written after each epoch when options.trajectory_test_images > 0 (empty if absent).
std::vector<EpochEvaluation> load_epochs(const std::filesystem::path& run);
void evaluate_epoch(const Study& study, const std::filesystem::path& run, clip::ClipModel& model, int64_t epoch,
                    const AttackConfig* attack, const Classifier& classifier);

// Runs `body` for a stage unless its stage.json exists; times it and saves the result (the lead's:
// body returns the result on the lead alone). The stage works in DIR.partial (`work`, where a rerun
// resumes it), renamed to DIR with its stage.json: a stage folder exists whole or not at all.
StageResult stage(const std::filesystem::path& dir, const std::string& metrics, const Team& team,
                  const std::function<StageResult(const std::filesystem::path& work)>& body);
std::optional<StageResult> finished_stage(const std::filesystem::path& dir);

clip::TrainOptions train_options(const Study& study, int64_t epochs, double lr, int64_t warmup, int64_t batch_size,
                                 uint64_t seed);

using ModelSource = std::function<std::shared_ptr<clip::ClipModel>()>;
using ObjectiveSource = std::function<std::unique_ptr<clip::Objective>()>;

// A contrastive training stage (every process trains, resuming after a kill), then the lead
// evaluates its model (attack: null for none).
StageResult training_stage(const Study& study, const std::string& name, const std::filesystem::path& run,
                           const ModelSource& model, const std::string& csv, const clip::TrainOptions& train_options,
                           const ObjectiveSource& objective, const AttackConfig* attack, bool per_epoch = true);

// A cell's folder under its seed's: the attack's name, with "-rate-<r>" when the rate is given (> 0).
std::string cell_folder(const std::string& attack, double rate);

// The recipe's rule for the favoured lambda2, over the records of `experiment`: among its cleanclip
// stages' lambda2 values, the one of lowest mean ASR whose mean clean top-1 is at most `max_cost`
// below the mean of the experiment's poisoned models (ties: the smaller; none within the cost: the
// smallest). Throws when the experiment has no cleanclip stage or no poisoned model.
double favoured_lambda2(const std::vector<GridRecord>& records, const std::string& experiment, double max_cost);

// The trigger of `attack_name` as the options set it, keyed by `seed`: patch_size 0 stays 0 (16/224 of
// each image's shorter side, applied per image), wanet_k 0 becomes the image side (a per-pixel field).
AttackConfig study_attack(const StudyOptions& options, const std::string& attack_name, uint64_t seed);

// The poisoned training set in dir/poisoned-data (made once, by the lead); rate 0: options.poison_count rows.
PoisonResult poison(const Study& study, const std::string& attack_name, double rate, uint64_t seed,
                    const std::filesystem::path& dir);

// The seed's clean model (trained once), with its ASR against `attack`'s trigger (measured once per attack).
StageResult clean_pretrain(const Study& study, uint64_t seed, const AttackConfig* attack);

// The poisoned model, trained from scratch on the poisoned set.
StageResult poisoned_pretrain(const Study& study, const std::filesystem::path& cell, uint64_t seed,
                              const PoisonResult& poisoned);

// The defences' clean pairs (written by the lead; callers sync): a CSV path.
std::string clean_pairs(const Study& study, const PoisonResult* poisoned, int64_t rows, uint64_t seed);

// The defence as its stage is named: the favoured lambda2 replaced by `lambda2`, and every field at the
// recipe's own value unset, so that a sweep's point at the defaults (lambda2 = 1, the recipe's lr, all
// the clean rows) is the default fine-tune, run once and shared ("cleanclip-finetune", not "-l2-1").
Defence resolved_defence(const Defence& defence, double lambda2, const StudyOptions& options);

// One defence of the model at `model_path`, in folder dir / resolved_defence(...).stage_name().
StageResult defence_stage(const Study& study, const Defence& defence, double lambda2, const std::filesystem::path& dir,
                          const std::string& model_path, const PoisonResult* poisoned, uint64_t seed,
                          bool per_epoch = true);

}  // namespace clipgrad::cleanclip
