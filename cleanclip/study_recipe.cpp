// Recipes: the presets, recipe files and the checks made before any work.
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "cleanclip/attack/attack_config.h"
#include "cleanclip/study_stages.h"
#include "io/atomic_file.h"
#include "io/json.h"

namespace clipgrad::clip {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SceneOptions, canvas, train, finetune, test, min_item, max_item,
                                                max_rotation_degrees, mention, seed)
}  // namespace clipgrad::clip

namespace clipgrad::cleanclip {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StudyOptions, dataset, scenes, train_images, test_images, model,
                                                batch_size, pretrain_epochs, pretrain_lr, pretrain_warmup, target,
                                                poison_count, poison_rate, patch_size, patch_location,
                                                blend_fresh_noise, wanet_k, wanet_s, finetune_source, finetune_rows,
                                                finetune_epochs, finetune_lr, finetune_warmup, finetune_batch_size,
                                                lambda_clip, lambda_inmodal, supervised_epochs, supervised_lr,
                                                supervised_batch_size, trajectory_test_images)

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kAllAttacks = {"badnet", "blended", "wanet", "label-consistent"};

// Every key of `given` must be one of `known`'s (recursively for objects): a typo is an error, not a default.
void check_keys(const nlohmann::json& given, const nlohmann::json& known, const std::string& where) {
  for (const auto& [key, value] : given.items()) {
    if (!known.contains(key)) throw std::invalid_argument(where + ": unknown field \"" + key + "\"");
    if (value.is_object() && known.at(key).is_object()) check_keys(value, known.at(key), where + "." + key);
  }
}

// The paper's regime at this scale (docs/study.md): the reference's triggers, 10% of the pretraining
// size as a disjoint clean set, fine-tuned 50x below the pretraining rate at the reference's batch.
StudyOptions reference_options(StudyOptions options) {
  options.patch_size = 0;
  options.patch_location = "random";
  options.blend_fresh_noise = true;
  options.wanet_k = 0;
  options.wanet_s = 1;
  options.finetune_source = "disjoint";
  options.finetune_epochs = 10;
  options.finetune_lr = 1e-5;
  options.finetune_warmup = 50;
  options.finetune_batch_size = 64;
  options.lambda_inmodal = 1;
  options.supervised_epochs = 10;
  options.supervised_lr = 1e-4;
  options.supervised_batch_size = 80;
  options.trajectory_test_images = 1000;
  return options;
}

std::vector<int64_t> seeds(int64_t first, int64_t count) {
  std::vector<int64_t> list;
  for (int64_t s = first; s < first + count; ++s) list.push_back(s);
  return list;
}

Defence defence(const std::string& kind) { return Defence{.kind = kind}; }

// The reference presets' grid: the pilot fixes the rate, the main table at it, the clean model's cost,
// then (scenes) the ablations on the pilot's seeds and the rate sweep on the main seeds.
std::vector<Experiment> reference_experiments(const StudyOptions& options, bool ablations) {
  const std::vector<double> rates = {0.02, 0.005, 0.001, 0.0005};
  const std::vector<int64_t> main_seeds = seeds(0, 5), tuning_seeds = seeds(100, 3);
  std::vector<Experiment> experiments = {
      {"pilot", {"badnet"}, rates, seeds(100, 2), {}, false, false},
      {"main", kAllAttacks, {}, main_seeds, {defence("clip"), defence("cleanclip"), defence("supervised")}},
      {"clean-cost", {"none"}, {}, main_seeds, {defence("clip"), defence("cleanclip")}}};
  if (!ablations) return experiments;
  Experiment lambda2{"lambda2", {"badnet"}, {}, tuning_seeds, {defence("clip")}, false, false};
  for (double value : {0.5, 1.0, 2.0, 4.0, 8.0}) lambda2.defences.push_back(Defence{.lambda2 = value});
  experiments.push_back(lambda2);
  experiments.push_back({"main-favoured", kAllAttacks, {}, main_seeds, {Defence{.favoured_lambda2 = true}}});
  Experiment rows{"rows", {"badnet"}, {}, tuning_seeds, {}, false, false};
  for (int64_t divisor : {4, 2, 1})
    for (const char* kind : {"clip", "cleanclip"})
      rows.defences.push_back(Defence{.kind = kind, .rows = options.finetune_rows / divisor});
  experiments.push_back(rows);
  Experiment lr{"lr", {"badnet"}, {}, tuning_seeds, {}, false, false};
  for (double value : {1e-5, 5e-5, 1e-4})
    for (const char* kind : {"clip", "cleanclip"}) lr.defences.push_back(Defence{.kind = kind, .lr = value});
  experiments.push_back(lr);
  experiments.push_back(
      {"rates", {"badnet", "blended"}, rates, seeds(0, 3), {defence("clip"), defence("cleanclip")}, true, false});
  return experiments;
}

nlohmann::json defence_to_json(const Defence& defence) {
  nlohmann::json json{{"kind", defence.kind}};
  if (defence.lambda2) json["lambda2"] = *defence.lambda2;
  if (defence.favoured_lambda2) json["lambda2"] = "favoured";
  if (defence.lr) json["lr"] = *defence.lr;
  if (defence.rows) json["rows"] = *defence.rows;
  return json;
}

Defence defence_from_json(const nlohmann::json& json, const std::string& where) {
  check_keys(json, {{"kind", 0}, {"lambda2", 0}, {"lr", 0}, {"rows", 0}}, where);
  Defence defence{.kind = json.at("kind")};
  if (json.contains("lambda2")) {
    if (json.at("lambda2") == "favoured")
      defence.favoured_lambda2 = true;
    else
      defence.lambda2 = json.at("lambda2").get<double>();
  }
  if (json.contains("lr")) defence.lr = json.at("lr").get<double>();
  if (json.contains("rows")) defence.rows = json.at("rows").get<int64_t>();
  return defence;
}

Experiment experiment_from_json(const nlohmann::json& json, const std::string& where) {
  check_keys(json,
             {{"name", 0},
              {"attacks", 0},
              {"rates", 0},
              {"seeds", 0},
              {"defences", 0},
              {"clean_models", 0},
              {"trajectories", 0}},
             where);
  Experiment experiment{json.at("name"),
                        json.at("attacks"),
                        json.value("rates", std::vector<double>{}),
                        json.at("seeds"),
                        {},
                        json.value("clean_models", true),
                        json.value("trajectories", true)};
  for (const nlohmann::json& defence : json.value("defences", nlohmann::json::array()))
    experiment.defences.push_back(defence_from_json(defence, where + ".defences"));
  return experiment;
}

}  // namespace

nlohmann::json options_to_json(const StudyOptions& options) { return options; }

StudyOptions options_from_json(const nlohmann::json& json, StudyOptions defaults, const std::string& where) {
  nlohmann::json merged = options_to_json(defaults);
  check_keys(json, merged, where);
  merged.merge_patch(json);
  StudyOptions options = merged.get<StudyOptions>();
  options.out = defaults.out;
  options.attacks = defaults.attacks;
  options.first_seed = defaults.first_seed;
  options.seeds = defaults.seeds;
  options.fashion_mnist = defaults.fashion_mnist;
  options.workers = defaults.workers;
  return options;
}

Recipe preset_recipe(const std::string& name) {
  Recipe recipe;
  recipe.name = name;
  if (name == "quick") {
    recipe.experiments = {quick_experiment(recipe.options)};
  } else if (name == "reference-fashion-mnist") {
    // Half the quick demo's pretraining pairs, to fit the budget (docs/study.md); the clean set is
    // 10% of them, the next 1,000 Fashion-MNIST training images.
    StudyOptions& options = recipe.options = reference_options(recipe.options);
    options.train_images = 10000;
    options.test_images = 2000;
    options.finetune_rows = 1000;
    options.pretrain_warmup = 100;
    recipe.experiments = reference_experiments(options, false);
  } else if (name == "reference-scenes") {
    StudyOptions& options = recipe.options = reference_options(recipe.options);
    options.dataset = "scenes";
    options.model = "vit-tiny-64";
    options.scenes.train = 20000;
    options.scenes.finetune = options.finetune_rows = 2000;
    options.scenes.test = 2000;
    options.pretrain_epochs = 12;
    options.pretrain_warmup = 500;
    recipe.experiments = reference_experiments(options, true);
  } else {
    throw std::invalid_argument("unknown preset '" + name +
                                "': use quick, reference-fashion-mnist or reference-scenes");
  }
  return recipe;
}

nlohmann::json recipe_to_json(const Recipe& recipe) {
  nlohmann::json experiments = nlohmann::json::array();
  for (const Experiment& e : recipe.experiments) {
    nlohmann::json json{{"name", e.name},   {"attacks", e.attacks},           {"rates", e.rates},
                        {"seeds", e.seeds}, {"clean_models", e.clean_models}, {"trajectories", e.trajectories}};
    json["defences"] = nlohmann::json::array();
    for (const Defence& defence : e.defences) json["defences"].push_back(defence_to_json(defence));
    experiments.push_back(json);
  }
  return {{"preset", recipe.name},
          {"options", options_to_json(recipe.options)},
          {"experiments", experiments},
          {"takes_asr", recipe.takes_asr},
          {"lambda2_from", recipe.lambda2_from},
          {"lambda2_max_cost", recipe.lambda2_max_cost}};
}

Recipe load_recipe(const std::string& path) {
  const nlohmann::json json = io::read_json_file(path, "recipe");
  try {
    Recipe recipe = preset_recipe(json.value("preset", std::string("quick")));
    check_keys(json, recipe_to_json(recipe), "recipe '" + path + "'");
    recipe.options = options_from_json(json.value("options", nlohmann::json::object()), recipe.options,
                                       "recipe '" + path + "': options");
    if (json.contains("experiments")) {
      recipe.experiments.clear();
      for (const nlohmann::json& experiment : json.at("experiments"))
        recipe.experiments.push_back(experiment_from_json(experiment, "recipe '" + path + "': experiments"));
    }
    recipe.takes_asr = json.value("takes_asr", recipe.takes_asr);
    recipe.lambda2_from = json.value("lambda2_from", recipe.lambda2_from);
    recipe.lambda2_max_cost = json.value("lambda2_max_cost", recipe.lambda2_max_cost);
    return recipe;
  } catch (const nlohmann::json::exception& error) {
    throw std::invalid_argument("bad recipe '" + path + "': " + error.what());
  }
}

void check_study_options(const StudyOptions& options, const Team& team, const std::vector<Experiment>& experiments) {
  if (options.dataset != "fashion-mnist" && options.dataset != "scenes")
    throw std::invalid_argument("demo: unknown dataset '" + options.dataset + "': use fashion-mnist or scenes");
  if (options.finetune_source != "disjoint" && options.finetune_source != "poisoned-clean-rows")
    throw std::invalid_argument("demo: finetune_source must be disjoint or poisoned-clean-rows");
  if (options.first_seed < 0 || options.seeds < 1) throw std::invalid_argument("demo: no attack or no seed to run");
  parse_patch_location(options.patch_location);
  clip::ClipConfig::named(options.model);
  for (const Experiment& experiment : experiments) {
    if (experiment.attacks.empty() || experiment.seeds.empty())
      throw std::invalid_argument("demo: experiment '" + experiment.name + "' has no attack or no seed to run");
    for (const std::string& attack : experiment.attacks)
      if (attack != "none") parse_attack_kind(attack);
    for (int64_t seed : experiment.seeds)
      if (seed < 0) throw std::invalid_argument("demo: experiment '" + experiment.name + "' has a negative seed");
    for (const Defence& defence : experiment.defences)
      if (defence.kind != "clip" && defence.kind != "cleanclip" && defence.kind != "supervised")
        throw std::invalid_argument("demo: unknown defence '" + defence.kind + "': use clip, cleanclip or supervised");
  }
  distributed::rows_per_rank(options.batch_size, team.world->world_size(), "demo --batch-size");
}

void check_recipe_folder(const std::string& out, const nlohmann::json& recipe) {
  // The options decide every stage's numbers; experiments only choose which stages run, and a
  // stage's folder names what it varies, so a recipe may gain experiments between sessions.
  // A field the folder's recipe lacks was added to the options after it was made: it stands at its
  // default, which keeps the behaviour of the code that made it.
  const fs::path path = fs::path(out) / "recipe.json";
  if (fs::exists(path)) {
    const nlohmann::json earlier = io::read_json_file(path.string(), "study recipe");
    nlohmann::json earlier_options = options_to_json(StudyOptions{});
    earlier_options.merge_patch(earlier.value("options", nlohmann::json::object()));
    if (earlier_options != recipe.at("options"))
      throw std::invalid_argument("demo: " + out + " holds a study made with other options (" + path.string() + ": " +
                                  io::json_excerpt(earlier, 400) + "); use another --out");
  }
  fs::create_directories(out);
  io::write_file_atomic(path.string(), recipe.dump(2) + "\n");
}

}  // namespace clipgrad::cleanclip
