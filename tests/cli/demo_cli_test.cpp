// `clipgrad demo --preset / --recipe / --print-recipe`: the recipe printed is
// the preset's (or the file's, merged over its preset's), typos and unknown
// presets fail naming them, and --print-recipe alone is refused rather than
// starting the quick study. Nothing here trains.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_clipgrad.h"
#include "test_temp_dir.h"

namespace clipgrad::cli {
namespace {

using clipgrad::testing::run_clipgrad;

TEST(DemoCli, PrintsAPresetsRecipe) {
  const auto result = run_clipgrad("demo --preset reference-scenes --print-recipe");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json recipe = nlohmann::json::parse(result.output);
  EXPECT_EQ(recipe.at("preset"), "reference-scenes");
  EXPECT_EQ(recipe.at("options").at("dataset"), "scenes");
  EXPECT_EQ(recipe.at("options").at("wanet_k"), 0);
  EXPECT_EQ(recipe.at("options").at("patch_location"), "random");
  EXPECT_EQ(recipe.at("experiments").at(0).at("name"), "pilot");
}

TEST(DemoCli, PrintsARecipeFileMergedOverItsPreset) {
  clipgrad::testing::TempDir dir("demo_cli");
  std::ofstream(dir.file("small.json")) << R"({"preset": "reference-fashion-mnist", "options": {"train_images": 500},
    "experiments": [{"name": "main", "attacks": ["blended"], "seeds": [3]}]})";
  const auto result = run_clipgrad("demo --recipe '" + dir.file("small.json") + "' --print-recipe");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json recipe = nlohmann::json::parse(result.output);
  EXPECT_EQ(recipe.at("options").at("train_images"), 500);
  EXPECT_EQ(recipe.at("options").at("finetune_lr"), 1e-5);  // the preset's
  ASSERT_EQ(recipe.at("experiments").size(), 1u);
  EXPECT_EQ(recipe.at("experiments").at(0).at("seeds"), nlohmann::json::array({3}));
  EXPECT_EQ(recipe.at("experiments").at(0).at("defences"), nlohmann::json::array());
}

TEST(DemoCli, TyposUnknownPresetsAndAPrintWithoutARecipeFail) {
  clipgrad::testing::TempDir dir("demo_cli_errors");
  std::ofstream(dir.file("typo.json")) << R"({"preset": "quick", "options": {"finetune_lrr": 1}})";
  auto result = run_clipgrad("demo --recipe '" + dir.file("typo.json") + "' --out '" + dir.file("study") + "'");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("unknown field \"finetune_lrr\""), std::string::npos) << result.output;
  result = run_clipgrad("demo --preset paper --print-recipe");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("paper"), std::string::npos) << result.output;
  result = run_clipgrad("demo --print-recipe --out '" + dir.file("quick") + "'");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("--preset"), std::string::npos) << result.output;
  result = run_clipgrad("demo --preset quick --recipe '" + dir.file("typo.json") + "' --print-recipe");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir.file("study")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("quick")));
}

}  // namespace
}  // namespace clipgrad::cli
