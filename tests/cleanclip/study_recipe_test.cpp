// A recipe's study end to end at a toy size (Fashion-MNIST, a few hundred
// images, one epoch each): the pilot decides the rate, the ablation the
// lambda2, each stage is evaluated (per epoch where asked), the report is
// written, a rerun reuses every stage; recipes round-trip and typos are errors.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "cleanclip/study.h"
#include "cleanclip/study_stages.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

Recipe toy_recipe(const std::string& out) {
  Recipe recipe = preset_recipe("reference-fashion-mnist");
  StudyOptions& o = recipe.options;
  o.out = out;
  o.train_images = 240, o.test_images = 60, o.finetune_rows = 48;
  o.batch_size = 16, o.finetune_batch_size = 16, o.supervised_batch_size = 16;
  o.pretrain_epochs = 1, o.pretrain_warmup = 2, o.finetune_epochs = 2, o.finetune_warmup = 1;
  o.supervised_epochs = 1, o.trajectory_test_images = 20, o.workers = 1;
  o.patch_size = 4;
  recipe.takes_asr = 0;  // every rate "takes": the pilot walks down to the lowest
  Defence favoured;
  favoured.favoured_lambda2 = true;
  Defence lambda2_small, lambda2_large, clip, supervised;
  lambda2_small.lambda2 = 1, lambda2_large.lambda2 = 2, clip.kind = "clip", supervised.kind = "supervised";
  recipe.experiments = {{"pilot", {"badnet"}, {0.1, 0.05}, {100}, {}, false, false},
                        {"main", {"badnet", "none"}, {}, {0}, {clip, supervised}, true, true},
                        {"lambda2", {"badnet"}, {}, {100}, {lambda2_small, lambda2_large}, false, false},
                        {"main-favoured", {"badnet"}, {}, {0}, {favoured}, true, true}};
  return recipe;
}

TEST(StudyRecipe, RunsTheExperimentsDecidesOnTheWayAndReuses) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "needs Debian's dataset-fashion-mnist";
  testing::TempDir dir("recipe");
  const Recipe recipe = toy_recipe(dir.file("study"));
  run_recipe(recipe);
  const nlohmann::json results = nlohmann::json::parse(std::ifstream(dir.file("study/results.json")));
  EXPECT_EQ(results.at("main_rate"), 0.05);  // the lowest pilot rate
  EXPECT_EQ(results.at("pilot").size(), 2u);
  const double favoured = results.at("favoured_lambda2");
  EXPECT_TRUE(favoured == 1 || favoured == 2);
  std::set<std::string> stages;
  for (const nlohmann::json& record : results.at("records")) {
    stages.insert(record.at("stage").get<std::string>());
    if (record.at("stage") == "clip-finetune" && record.at("attack") == "badnet")
      EXPECT_EQ(record.at("epochs (epoch, clean_top1, asr)").size(), 2u);  // per epoch, on 20 test images
  }
  for (const char* stage : {"clean-pretrain", "poisoned-pretrain", "clip-finetune", "supervised-finetune",
                            "cleanclip-finetune", "cleanclip-finetune-l2-2"})  // lambda2 = 1: the default stage
    EXPECT_TRUE(stages.count(stage)) << stage;
  EXPECT_TRUE(std::filesystem::exists(dir.file("study/seed0/badnet-rate-0.05/poisoned-data/attack.json")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("study/seed0/clean-model/clip-finetune/stage.json")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("study/figures/badnet-0-difference.png")));
  for (const char* file : {"results.md", "report.html", "recipe.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.file(std::string("study/") + file))) << file;

  const auto start = std::chrono::steady_clock::now();
  run_recipe(recipe);  // every stage done: the same report, at once
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir.file("study/results.json"))).at("records"), results.at("records"));

  Recipe other = recipe;
  other.options.finetune_lr *= 2;
  EXPECT_THROW(run_recipe(other), std::invalid_argument);
}

TEST(StudyRecipe, FilesRoundTripAndTyposAreErrors) {
  testing::TempDir dir("recipe_file");
  const Recipe preset = preset_recipe("reference-scenes");
  EXPECT_EQ(preset.options.wanet_k, 0);
  EXPECT_TRUE(preset.options.blend_fresh_noise);
  std::ofstream(dir.file("r.json")) << recipe_to_json(preset).dump();
  EXPECT_EQ(recipe_to_json(load_recipe(dir.file("r.json"))), recipe_to_json(preset));
  std::ofstream(dir.file("small.json")) << R"({"preset": "reference-scenes", "options": {"scenes": {"train": 100}}})";
  const Recipe small = load_recipe(dir.file("small.json"));
  EXPECT_EQ(small.options.scenes.train, 100);
  EXPECT_EQ(small.options.scenes.canvas, 64);
  EXPECT_EQ(small.experiments.size(), preset.experiments.size());
  std::ofstream(dir.file("typo.json")) << R"({"preset": "quick", "options": {"finetune_lrr": 1}})";
  EXPECT_THROW(load_recipe(dir.file("typo.json")), std::invalid_argument);
  std::ofstream(dir.file("nested.json")) << R"({"preset": "reference-scenes", "options": {"scenes": {"canvass": 1}}})";
  EXPECT_THROW(load_recipe(dir.file("nested.json")), std::invalid_argument);
  EXPECT_THROW(preset_recipe("paper"), std::invalid_argument);
  Defence defence;
  defence.lambda2 = 4;
  defence.lr = 5e-5;
  EXPECT_EQ(defence.stage_name(), "cleanclip-finetune-l2-4-lr-5e-05");
}

// The error's message, or "" when `load` does not throw std::invalid_argument.
std::string load_error(const std::string& path) {
  try {
    load_recipe(path);
  } catch (const std::exception& error) {  // refused content, or a file that is not JSON
    return error.what();
  }
  return "";
}

TEST(StudyRecipe, EveryPresetRoundTripsThroughItsFile) {
  testing::TempDir dir("recipe_presets");
  for (const char* name : {"quick", "reference-fashion-mnist", "reference-scenes"}) {
    const Recipe preset = preset_recipe(name);
    const std::string path = dir.file(std::string(name) + ".json");
    std::ofstream(path) << recipe_to_json(preset).dump(2);
    const Recipe loaded = load_recipe(path);
    EXPECT_EQ(recipe_to_json(loaded), recipe_to_json(preset)) << name;
    EXPECT_EQ(loaded.name, name);
  }
  // The favoured lambda2 is a word in the file and stays one.
  const Recipe scenes = preset_recipe("reference-scenes");
  bool favoured = false;
  for (const Experiment& experiment : scenes.experiments)
    for (const Defence& defence : experiment.defences) favoured = favoured || defence.favoured_lambda2;
  EXPECT_TRUE(favoured);
  EXPECT_NE(recipe_to_json(scenes).dump().find("\"lambda2\":\"favoured\""), std::string::npos);
}

TEST(StudyRecipe, UnknownOrMistypedFieldsAnywhereAreErrorsNamingThem) {
  testing::TempDir dir("recipe_errors");
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.file(name)) << text;
    return dir.file(name);
  };
  EXPECT_NE(load_error(write("top.json", R"({"preset": "quick", "experiment": []})")).find("\"experiment\""),
            std::string::npos);
  const std::string experiment = load_error(write(
      "experiment.json", R"({"preset": "quick", "experiments": [{"name": "a", "attacks": ["badnet"], "seed": [0]}]})"));
  EXPECT_NE(experiment.find("\"seed\""), std::string::npos) << experiment;
  const std::string defence =
      load_error(write("defence.json", R"({"preset": "quick", "experiments": [{"name": "a", "attacks": ["badnet"],
            "seeds": [0], "defences": [{"kind": "cleanclip", "lamda2": 2}]}]})"));
  EXPECT_NE(defence.find("\"lamda2\""), std::string::npos) << defence;
  EXPECT_NE(load_error(write("type.json", R"({"preset": "quick", "options": {"finetune_lr": "low"}})")), "");
  EXPECT_NE(load_error(write("seeds.json", R"({"preset": "quick", "experiments": [{"name": "a",
            "attacks": ["badnet"], "seeds": "0-4"}]})")),
            "");
  EXPECT_NE(load_error(write("lambda.json", R"({"preset": "quick", "experiments": [{"name": "a",
            "attacks": ["badnet"], "seeds": [0], "defences": [{"kind": "cleanclip", "lambda2": "best"}]}]})")),
            "");
  EXPECT_NE(load_error(write("preset.json", R"({"preset": "paper"})")).find("paper"), std::string::npos);
  EXPECT_NE(load_error(write("broken.json", R"({"preset": "quick",)")), "");
  EXPECT_THROW(load_recipe(dir.file("absent.json")), std::runtime_error);
}

TEST(StudyRecipe, UnknownAttacksAndDefencesAreRefusedBeforeAnyWork) {
  testing::TempDir dir("recipe_refused");
  Recipe recipe = preset_recipe("reference-fashion-mnist");
  recipe.options.out = dir.file("study");
  recipe.experiments = {{"main", {"badnet"}, {}, {0}, {Defence{.kind = "prune"}}, true, true}};
  EXPECT_THROW(run_recipe(recipe), std::invalid_argument);
  recipe.experiments = {{"main", {"trojan"}, {}, {0}, {}, true, true}};
  EXPECT_THROW(run_recipe(recipe), std::invalid_argument);
  recipe.experiments = {{"main", {"badnet"}, {}, {}, {}, true, true}};
  EXPECT_THROW(run_recipe(recipe), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir.file("study")));
}

// A study folder made before an option existed resumes under code that has it, as long as the
// option stands at its default; any other difference is refused.
TEST(StudyRecipe, AFolderResumesWhenOnlyNewOptionsAtTheirDefaultsDiffer) {
  testing::TempDir dir("recipe_folder");
  const nlohmann::json recipe = recipe_to_json(preset_recipe("reference-fashion-mnist"));
  const auto folder_with = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json earlier = recipe;
    edit(earlier.at("options"));
    std::filesystem::create_directories(dir.file(name));
    std::ofstream(dir.file(name + "/recipe.json")) << earlier.dump();
    return dir.file(name);
  };
  ASSERT_EQ(recipe.at("options").at("target"), options_to_json(StudyOptions{}).at("target"));
  EXPECT_NO_THROW(check_recipe_folder(folder_with("same", [](nlohmann::json&) {}), recipe));
  EXPECT_NO_THROW(check_recipe_folder(folder_with("older", [](nlohmann::json& o) { o.erase("target"); }), recipe));
  EXPECT_NO_THROW(check_recipe_folder(
      folder_with("older-scenes", [](nlohmann::json& o) { o.at("scenes").erase("max_rotation_degrees"); }), recipe));
  // trajectory_test_images is 1,000 here, 0 by default: a folder without it was made at 0.
  ASSERT_NE(recipe.at("options").at("trajectory_test_images"), 0);
  EXPECT_THROW(
      check_recipe_folder(folder_with("without", [](nlohmann::json& o) { o.erase("trajectory_test_images"); }), recipe),
      std::invalid_argument);
  EXPECT_THROW(check_recipe_folder(folder_with("other", [](nlohmann::json& o) { o["finetune_lr"] = 1e-4; }), recipe),
               std::invalid_argument);
  EXPECT_THROW(check_recipe_folder(folder_with("removed", [](nlohmann::json& o) { o["dropout"] = 0.1; }), recipe),
               std::invalid_argument);
  // The folder's recipe is rewritten with every field once accepted.
  const nlohmann::json rewritten = nlohmann::json::parse(std::ifstream(dir.file("older/recipe.json")));
  EXPECT_EQ(rewritten.at("options"), recipe.at("options"));
}

}  // namespace
}  // namespace clipgrad::cleanclip
