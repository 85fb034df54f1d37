// run_recipe: a recipe's experiments, cell by cell, with the pilot's rate and
// the ablation's lambda2 decided on the way, and the report after each cell.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "cleanclip/attack/trigger.h"
#include "cleanclip/report/grid_report.h"
#include "cleanclip/study_stages.h"
#include "io/decode.h"
#include "io/image.h"

namespace clipgrad::cleanclip {

namespace fs = std::filesystem;

namespace {

// The study's state as it runs: every stage met so far, and the decisions made.
struct Grid {
  const Recipe& recipe;
  const Study& study;
  GridReport report;
  std::map<std::string, size_t> index;  // record key -> records[]
};

std::string record_key(const GridRecord& r) {
  return r.attack + "|" + std::to_string(r.rate) + "|" + std::to_string(r.seed) + "|" + r.stage;
}

GridRecord& add_record(Grid& grid, GridRecord record, const std::string& experiment, const fs::path& run) {
  record.epochs.clear();
  for (const EpochEvaluation& e : load_epochs(run)) record.epochs.push_back({e.epoch, e.clean_top1, e.asr});
  const std::string key = record_key(record);
  auto found = grid.index.find(key);
  if (found == grid.index.end()) {
    found = grid.index.emplace(key, grid.report.records.size()).first;
    grid.report.records.push_back(std::move(record));
  }
  GridRecord& kept = grid.report.records[found->second];
  if (std::find(kept.experiments.begin(), kept.experiments.end(), experiment) == kept.experiments.end())
    kept.experiments.push_back(experiment);
  return kept;
}

GridRecord stage_record(const StageResult& stage, const std::string& kind, const std::string& attack, double rate,
                        int64_t seed) {
  GridRecord record;
  record.attack = attack;
  record.rate = rate > 0 ? rate : std::nan("");
  record.seed = seed;
  record.stage = stage.name;
  record.kind = kind;
  record.clean_top1 = stage.clean_top1;
  record.asr = stage.asr;
  record.asr_n = stage.asr_n;
  record.minutes = stage.minutes;
  return record;
}

void run_defences(Grid& grid, const Experiment& experiment, const std::string& attack, double rate, int64_t seed,
                  const fs::path& dir, const std::string& model, const PoisonResult* poisoned, double clean_model_asr) {
  const StudyOptions& options = grid.recipe.options;
  for (const Defence& defence : experiment.defences) {
    if (defence.favoured_lambda2 && std::isnan(grid.report.favoured_lambda2))
      grid.report.favoured_lambda2 =
          favoured_lambda2(grid.report.records, grid.recipe.lambda2_from, grid.recipe.lambda2_max_cost);
    const double lambda2 =
        defence.favoured_lambda2 ? grid.report.favoured_lambda2 : defence.lambda2.value_or(options.lambda_inmodal);
    const StageResult result = defence_stage(grid.study, defence, lambda2, dir, model, poisoned,
                                             static_cast<uint64_t>(seed), experiment.trajectories);
    GridRecord record = stage_record(result, defence.kind, attack, rate, seed);
    if (defence.kind == "cleanclip") record.lambda2 = lambda2;
    record.lr = defence.lr.value_or(defence.kind == "supervised" ? options.supervised_lr : options.finetune_lr);
    record.rows = defence.rows.value_or(options.finetune_rows);
    record.clean_model_asr = clean_model_asr;
    add_record(grid, record, experiment.name, dir / result.name);
  }
}

// One cell: its clean and poisoned models, then the defences (attack "none": of the clean model).
double run_cell(Grid& grid, const Experiment& experiment, const std::string& attack, double rate, int64_t seed) {
  const Study& study = grid.study;
  const uint64_t s = static_cast<uint64_t>(seed);
  const fs::path clean_run = study.seed_dir(s) / "clean-pretrain";
  if (attack == "none") {
    add_record(grid, stage_record(clean_pretrain(study, s, nullptr), "clean-pretrain", attack, 0, seed),
               experiment.name, clean_run);
    run_defences(grid, experiment, attack, 0, seed, study.seed_dir(s) / "clean-model",
                 (clean_run / "model.safetensors").string(), nullptr, std::nan(""));
    return std::nan("");
  }
  const fs::path cell = study.seed_dir(s) / cell_folder(attack, rate);
  const PoisonResult poisoned = poison(study, attack, rate, s, cell);
  double clean_asr = std::nan("");
  if (experiment.clean_models || finished_stage(clean_run)) {
    const StageResult clean = clean_pretrain(study, s, &poisoned.config);
    GridRecord clean_record = stage_record(clean, "clean-pretrain", attack, rate, seed);
    clean_record.clean_model_asr = clean_asr = clean.asr;
    add_record(grid, clean_record, experiment.name, clean_run);
  }
  const StageResult model = poisoned_pretrain(study, cell, s, poisoned);
  GridRecord poisoned_record = stage_record(model, "poisoned-pretrain", attack, rate, seed);
  poisoned_record.clean_model_asr = clean_asr;
  add_record(grid, poisoned_record, experiment.name, cell / "poisoned-pretrain");
  run_defences(grid, experiment, attack, rate, seed, cell, (cell / "poisoned-pretrain" / "model.safetensors").string(),
               &poisoned, clean_asr);
  return model.asr;
}

// The pilot: its rates from the highest down, until one does not take.
void run_pilot(Grid& grid, const Experiment& pilot) {
  std::vector<double> rates = pilot.rates;
  std::sort(rates.rbegin(), rates.rend());
  if (rates.empty()) throw std::invalid_argument("demo: the pilot experiment names no rate");
  grid.report.main_rate = rates.front();
  grid.report.main_rate_takes = false;
  for (double rate : rates) {
    std::vector<double> asr;
    for (const std::string& attack : pilot.attacks)
      for (int64_t seed : pilot.seeds) asr.push_back(run_cell(grid, pilot, attack, rate, seed));
    const double mean = bootstrap_mean(asr).mean;
    grid.report.pilot.emplace_back(rate, mean);
    write_grid_report(grid.report, grid.recipe.options.out);
    if (!(mean >= grid.recipe.takes_asr)) break;
    grid.report.main_rate = rate;
    grid.report.main_rate_takes = true;
  }
}

// Each attack of the main experiment on its first three test images outside the target class.
void write_examples(Grid& grid) {
  const Experiment* main = nullptr;
  for (const Experiment& e : grid.recipe.experiments)
    if (e.name == "main") main = &e;
  if (!main) return;
  const fs::path figures = fs::path(grid.recipe.options.out) / "figures";
  fs::create_directories(figures);
  const clip::LabelledDataset test = clip::LabelledDataset::from_csv(grid.study.paths.test_csv());
  const clip::ClassNames classes = clip::ClassNames::from_json(grid.study.paths.classes_json());
  grid.report.examples.clear();
  for (const std::string& attack : main->attacks) {
    const fs::path config = grid.study.seed_dir(main->seeds.front()) / cell_folder(attack, grid.report.main_rate) /
                            "poisoned-data" / "attack.json";
    if (attack == "none" || !fs::exists(config)) continue;
    const Trigger trigger(AttackConfig::load(config.string()));
    TriggerExample example{.attack = attack};
    std::vector<std::pair<io::Image, io::Image>> pairs;
    int largest = 1;
    for (size_t row = 0; row < test.size() && pairs.size() < 3; ++row) {
      if (test[row].label == target_class_index(classes, trigger.config().target)) continue;
      io::Image image = io::decode_image(test[row].image_path), triggered = image;
      trigger.apply(triggered, evaluation_image_key(static_cast<int64_t>(row)));
      for (size_t i = 0; i < image.rgb.size(); ++i)
        largest = std::max(largest, std::abs(image.rgb[i] - triggered.rgb[i]));
      pairs.emplace_back(std::move(image), std::move(triggered));
    }
    example.magnification = std::clamp(200 / largest, 1, 20);
    for (size_t i = 0; i < pairs.size(); ++i) {
      auto& [image, triggered] = pairs[i];
      io::Image difference = image;
      for (size_t p = 0; p < image.rgb.size(); ++p)
        difference.rgb[p] =
            static_cast<uint8_t>(std::min(255, std::abs(image.rgb[p] - triggered.rgb[p]) * example.magnification));
      const std::string stem = (figures / (attack + "-" + std::to_string(i))).string();
      for (auto [picture, suffix, list] : {std::tuple{&image, "-clean.png", &example.clean},
                                           std::tuple{&triggered, "-triggered.png", &example.triggered},
                                           std::tuple{&difference, "-difference.png", &example.difference}}) {
        io::write_png(stem + suffix, picture->width, picture->height, 3, picture->rgb.data());
        list->push_back(stem + suffix);
      }
    }
    grid.report.examples.push_back(std::move(example));
  }
}

}  // namespace

double favoured_lambda2(const std::vector<GridRecord>& records, const std::string& experiment, double max_cost) {
  std::map<double, std::vector<const GridRecord*>> by_lambda2;
  std::vector<double> poisoned_top1;
  for (const GridRecord& r : records) {
    if (std::find(r.experiments.begin(), r.experiments.end(), experiment) == r.experiments.end()) continue;
    if (r.kind == "cleanclip") by_lambda2[r.lambda2].push_back(&r);
    if (r.kind == "poisoned-pretrain") poisoned_top1.push_back(r.clean_top1);
  }
  if (by_lambda2.empty() || poisoned_top1.empty())
    throw std::invalid_argument("demo: a favoured lambda2 needs the experiment '" + experiment +
                                "' (cleanclip defences) to run before it");
  const double floor = bootstrap_mean(poisoned_top1).mean - max_cost;
  double best = std::nan(""), best_asr = 2;
  for (const auto& [lambda2, list] : by_lambda2) {  // ascending: ties keep the smaller
    std::vector<double> top1, asr;
    for (const GridRecord* r : list) top1.push_back(r->clean_top1), asr.push_back(r->asr);
    if (bootstrap_mean(top1).mean >= floor && bootstrap_mean(asr).mean < best_asr)
      best = lambda2, best_asr = bootstrap_mean(asr).mean;
  }
  if (std::isnan(best)) best = by_lambda2.begin()->first;  // none within the cost: the smallest
  return best;
}

void run_recipe(const Recipe& recipe, const StudyProgress& progress) {
  const Study study = make_study(recipe.options, progress);
  if (study.team.world->world_size() > 1)
    throw std::invalid_argument("demo --recipe runs in one process (the quick demo runs under mpirun)");
  check_study_options(recipe.options, study.team, recipe.experiments);
  check_recipe_folder(recipe.options.out, recipe_to_json(recipe));
  import_data(study);
  Grid grid{recipe, study, {}, {}};
  grid.report.title = recipe.name;
  grid.report.recipe = recipe_to_json(recipe);
  grid.report.main_rate = recipe.options.poison_rate > 0 ? recipe.options.poison_rate : std::nan("");
  for (const Experiment& experiment : recipe.experiments) {
    if (experiment.name == "pilot") {
      run_pilot(grid, experiment);
      continue;
    }
    const std::vector<double> rates =
        experiment.rates.empty() ? std::vector<double>{grid.report.main_rate} : experiment.rates;
    for (double rate : rates)
      for (int64_t seed : experiment.seeds)
        for (const std::string& attack : experiment.attacks) {
          try {
            run_cell(grid, experiment, attack, std::isnan(rate) ? 0 : rate, seed);
          } catch (const std::invalid_argument& error) {  // a cell the recipe cannot make; the others go on
            grid.report.notes.push_back(experiment.name + ": " + attack + " at seed " + std::to_string(seed) + ": " +
                                        error.what());
            std::fprintf(stderr, "demo: %s\n", grid.report.notes.back().c_str());
          }
          write_grid_report(grid.report, recipe.options.out);
        }
    if (experiment.name == "main") write_examples(grid);
  }
  write_examples(grid);
  write_grid_report(grid.report, recipe.options.out);
}

}  // namespace clipgrad::cleanclip
