// The CleanCLIP study (`clipgrad demo`): on Fashion-MNIST or the scenes
// testbed (clip/data/scenes.h), for each cell (attack, poison rate, seed) of
// each experiment of a recipe,
//   1. import the data (once),
//   2. train a clean model              (clean-pretrain, once per seed),
//   3. poison the training set,
//   4. train the poisoned model from scratch          (poisoned-pretrain),
//   5. fine-tune it on clean pairs with each of the experiment's defences: the
//      CLIP loss alone (clip-finetune), CleanCLIP (cleanclip-finetune) and the
//      supervised defence (supervised-finetune), each at the recipe's learning
//      rate, lambda2 and clean rows or at the experiment's own,
//   6. evaluate every stage: clean top-1 and attack success rate (and, where
//      the recipe asks, after every epoch, on the first test images).
// The clean pairs are either the poisoned set's clean rows (the quick demo's
// recipe) or a disjoint clean set (finetune.csv of the data; the reference
// presets). Each stage writes its run folder and a stage.json; a rerun reuses
// finished stages, so a killed study continues where it stopped. The same
// recipe gives the same numbers (CPU).
//
// In a data-parallel world (StudyOptions::world, under mpirun) the CLIP and
// CleanCLIP training stages run on every process at the same global batch
// (batch_size is the global batch, each process takes batch_size / N), and
// everything else (importing, poisoning, evaluation, the supervised defence,
// the report) on rank 0 while the others wait; the folder must be one that
// every process sees (one machine, or a shared file system).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cleanclip/report/study_report.h"
#include "clip/data/scenes.h"
#include "clip/train/trainer.h"
#include "distributed/communicator.h"

namespace clipgrad::cleanclip {

// The recipe's settings: sizes, epochs and rates. The defaults are the quick
// demo's, chosen so that the default study (one attack, one seed) runs in about
// 20 minutes on two CPU cores and the backdoor takes; bench/RESULTS.md records
// what was tried. reference_options() gives the reference presets.
struct StudyOptions {
  std::string out = "runs/demo";
  std::vector<std::string> attacks = {"badnet"};
  int64_t first_seed = 0;
  int64_t seeds = 1;  // seeds first_seed .. first_seed + seeds - 1
  std::string fashion_mnist = "/usr/share/datasets/fashion-mnist";
  int workers = 2;
  Device device = Device::CPU;  // of the CLIP / CleanCLIP training stages; not part of the recipe
  // The processes the training stages run on (null: this one); not part of the recipe.
  std::shared_ptr<distributed::Communicator> world;
  // How long the other ranks wait for rank 0's own work (evaluating, the supervised defence).
  std::chrono::milliseconds lead_work_timeout = std::chrono::hours(24);

  // "fashion-mnist" or "scenes" (then `scenes` sizes it; train_images and test_images are unused).
  std::string dataset = "fashion-mnist";
  clip::SceneOptions scenes;
  int64_t train_images = 20000;  // the first N of Fashion-MNIST's 60,000 training images (-1: all)
  int64_t test_images = -1;      // the first N of its 10,000 test images (-1: all)
  std::string model = "vit-tiny-28";
  int64_t batch_size = 128;  // the global batch, on any number of processes
  int64_t pretrain_epochs = 4;
  double pretrain_lr = 5e-4;
  int64_t pretrain_warmup = 200;

  std::string target = "bag";
  int64_t poison_count = 400;  // of the training pairs (2% of 20,000); used when poison_rate is 0
  double poison_rate = 0;      // the fraction of the training pairs poisoned, when above 0
  // badnet and label-consistent: the patch side in pixels (0: 16/224 of the shorter side, the
  // reference's), and where it goes ("random": a uniform place, the reference's). The quick demo's
  // 4 px patch in the four corners: a 2 px patch at a random place did not take at 28 px (ASR
  // 0.15 with 5% poisoned and a 7 px patch); a 4 px patch in the four corners takes at 2% (ASR
  // 0.94, bench/RESULTS.md).
  int patch_size = 4;
  std::string patch_location = "four-corners";
  // blended: a new noise image per image (the reference's) instead of one fixed pattern.
  bool blend_fresh_noise = false;
  // wanet: a k x k control grid (0: k = the image side, the reference's per-pixel field), strength s.
  // The quick demo's k = 4, s = 4: at 28 px, s = 0.5 moved pixels by a quarter of a pixel and did
  // not take (ASR 0.02); s = 4 (about 2 px) takes at 2% (ASR 0.91).
  int wanet_k = 4;
  double wanet_s = 4.0;

  // "poisoned-clean-rows": the defences' pairs are clean rows of the poisoned training set (the quick
  // demo); "disjoint": a clean set apart from the pretraining set (the data's finetune.csv).
  std::string finetune_source = "poisoned-clean-rows";
  int64_t finetune_rows = 10000;  // clean pairs for the defences
  int64_t finetune_epochs = 10;
  double finetune_lr = 5e-4;
  int64_t finetune_warmup = 50;
  int64_t finetune_batch_size = 0;  // 0: batch_size
  double lambda_clip = 1.0;         // CleanCLIP's weights (the reference's clip_weight, inmodal_weight)
  double lambda_inmodal = 8.0;      // the top of the reference's lambda2 ablation (ASR falls as it grows)
  // The supervised defence erases the backdoor only when its rate is high
  // enough to move the encoder: lr 2e-4 left ASR 0.988, 1e-3 brought it to
  // 0.072 at the same clean accuracy (blended, seed 0; bench/RESULTS.md).
  int64_t supervised_epochs = 5;
  double supervised_lr = 1e-3;
  int64_t supervised_batch_size = 0;  // 0: batch_size
  // Every contrastive stage evaluated after each epoch on the first N test images (0: not).
  int64_t trajectory_test_images = 0;
};

// One fine-tune of a model. Unset fields take the recipe's values.
struct Defence {
  std::string kind = "cleanclip";   // "clip", "cleanclip" or "supervised"
  std::optional<double> lambda2{};  // cleanclip's in-modal weight
  bool favoured_lambda2 = false;    // cleanclip at the lambda2 the recipe's ablation favours (decided at run time)
  std::optional<double> lr{};
  std::optional<int64_t> rows{};  // the first N of the clean pairs
  // Its stage (and folder) name: "<kind>-finetune", plus "-l2-<v>", "-lr-<v>", "-rows-<n>" for each
  // field set ("cleanclip-finetune-l2-4"), "-l2-favoured" before it is decided.
  std::string stage_name() const;
};

// A grid of cells (attack x rate x seed) and the defences run on each cell's poisoned model.
// The attack "none" is the clean model: its defences measure what they cost a clean model.
struct Experiment {
  std::string name;
  std::vector<std::string> attacks;
  std::vector<double> rates;  // poisoned fractions; empty: the main rate
  std::vector<int64_t> seeds;
  std::vector<Defence> defences;
  // Train each seed's clean model (for the clean model's own ASR); the pilot and the ablations,
  // which compare defences of one poisoned model, go without.
  bool clean_models = true;
  // Evaluate its fine-tunes after every epoch (options.trajectory_test_images; pretraining always is).
  bool trajectories = true;
};

// A study: its settings and experiments, run in order (stages that two experiments share run once).
//  - The experiment named `pilot` decides the main rate: its rates are tried from the highest down
//    and the main rate is the lowest at which the poisoned models' mean ASR reaches `takes_asr`
//    before one does not (the highest when none does). Without a pilot, the main rate is
//    options.poison_rate (or options.poison_count rows).
//  - The favoured lambda2 is that of the `lambda2_from` experiment's cleanclip defences with the
//    lowest mean ASR among those whose mean clean top-1 is at most `lambda2_max_cost` below the
//    mean of its poisoned models (ties: the smaller lambda2).
struct Recipe {
  std::string name = "quick";
  StudyOptions options;
  std::vector<Experiment> experiments;
  double takes_asr = 0.5;
  std::string lambda2_from = "lambda2";
  double lambda2_max_cost = 0.02;
};

// "quick" (the default demo), "reference-fashion-mnist" and "reference-scenes" (docs/study.md).
Recipe preset_recipe(const std::string& name);
// The quick demo's single experiment over options.attacks and seeds: clip, cleanclip and supervised.
Experiment quick_experiment(const StudyOptions& options);
// A recipe file: {"preset": name, "options": {...}, "experiments": [...], ...}; every field but
// "preset" optional (the preset's value). Unknown fields are errors, named.
Recipe load_recipe(const std::string& path);
nlohmann::json recipe_to_json(const Recipe& recipe);
// options <-> the recipe's "options" object (the fields that change results; not out, workers,
// device, world, attacks or seeds, which experiments name).
nlohmann::json options_to_json(const StudyOptions& options);
StudyOptions options_from_json(const nlohmann::json& json, StudyOptions defaults, const std::string& where);

// Called with the stage's name and every training step's report.
using StudyProgress = std::function<void(const std::string& stage, const clip::StepReport& report)>;

// The quick demo (one experiment: quick_experiment(options)). Every rank of options.world must call
// it; the results are complete on rank 0.
std::vector<StudyResult> run_study(const StudyOptions& options, const StudyProgress& progress = nullptr);

// Every experiment of the recipe, in order, with recipe.options.out as the folder; writes the
// study's report (cleanclip/report/grid_report.h) after each cell. Single process.
void run_recipe(const Recipe& recipe, const StudyProgress& progress = nullptr);

}  // namespace clipgrad::cleanclip
