// The study end to end at a toy size (a few hundred Fashion-MNIST images, one
// epoch each): every stage runs and is evaluated, the report is written, a
// rerun reuses the finished stages, and another recipe in the same folder is
// refused.
#include "cleanclip/study.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "cleanclip/attack/trigger.h"
#include "cleanclip/attack/triggers.h"
#include "cleanclip/study_stages.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

StudyOptions toy_study(const std::string& out) {
  StudyOptions options;
  options.out = out;
  options.train_images = 240;
  options.test_images = 60;
  options.batch_size = 16;
  options.pretrain_epochs = 1;
  options.pretrain_warmup = 2;
  options.poison_count = 24;
  options.finetune_rows = 64;
  options.finetune_epochs = 1;
  options.finetune_warmup = 1;
  options.supervised_epochs = 1;
  options.workers = 1;
  return options;
}

TEST(Study, RunsEveryStageWritesTheReportAndReusesFinishedStages) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "needs Debian's dataset-fashion-mnist (scripts/install-deps.sh installs it)";
  testing::TempDir dir("study");
  const StudyOptions options = toy_study(dir.file("demo"));
  std::vector<StudyResult> first = run_study(options);
  ASSERT_EQ(first.size(), 1u);
  const StudyResult& study = first[0];
  EXPECT_EQ(study.attack, "badnet");
  EXPECT_EQ(study.target, "bag");
  std::vector<std::string> names;
  for (const StageResult& stage : study.stages) {
    names.push_back(stage.name);
    EXPECT_GE(stage.clean_top1, 0.0);
    EXPECT_LE(stage.clean_top1, 1.0);
    EXPECT_GT(stage.asr_n, 0) << stage.name;  // test images outside the target class
    EXPECT_GT(stage.minutes, 0.0) << stage.name;
    EXPECT_TRUE(std::filesystem::exists(stage.metrics_path)) << stage.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"clean-pretrain", "poisoned-pretrain", "clip-finetune",
                                             "cleanclip-finetune", "supervised-finetune"}));
  for (const char* file : {"results.json", "results.md", "report.html"})
    EXPECT_TRUE(std::filesystem::exists(dir.file(std::string("demo/") + file))) << file;
  // The fine-tuning subset holds no poisoned row.
  std::ifstream finetune(dir.file("demo/seed0/badnet/poisoned-data/finetune.csv"));
  std::string header, line;
  std::getline(finetune, header);
  int rows = 0;
  while (std::getline(finetune, line)) {
    ++rows;
    EXPECT_EQ(line.back(), '0') << line;  // is_backdoor, the last column
  }
  EXPECT_EQ(rows, 64);

  // A rerun finds every stage done: same numbers, and no stage's files written again.
  std::vector<std::filesystem::file_time_type> written;
  for (const auto& stage : study.stages) written.push_back(std::filesystem::last_write_time(stage.metrics_path));
  std::vector<StudyResult> again = run_study(options);
  ASSERT_EQ(again[0].stages.size(), study.stages.size());
  for (size_t i = 0; i < study.stages.size(); ++i) {
    EXPECT_EQ(again[0].stages[i].clean_top1, study.stages[i].clean_top1) << study.stages[i].name;
    EXPECT_EQ(again[0].stages[i].asr, study.stages[i].asr) << study.stages[i].name;
    EXPECT_EQ(std::filesystem::last_write_time(study.stages[i].metrics_path), written[i]) << study.stages[i].name;
  }

  StudyOptions other = options;
  other.finetune_lr *= 2;
  EXPECT_THROW(run_study(other), std::invalid_argument);
}

TEST(Study, RefusesABadRecipeBeforeAnyWork) {
  testing::TempDir dir("study_bad");
  StudyOptions options = toy_study(dir.file("demo"));
  options.patch_location = "centre";
  EXPECT_THROW(run_study(options), std::invalid_argument);
  options = toy_study(dir.file("demo"));
  options.first_seed = -1;
  EXPECT_THROW(run_study(options), std::invalid_argument);
  options = toy_study(dir.file("demo"));
  options.attacks = {"badnet", "trojan"};
  EXPECT_THROW(run_study(options), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir.file("demo")));  // nothing was written
}

io::Image ramp_image(int side) {
  io::Image image(side, side);
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>((i * 37) % 251);
  return image;
}

// The (x, y) of every pixel the trigger changed.
std::set<std::pair<int, int>> changed(const io::Image& before, const io::Image& after) {
  std::set<std::pair<int, int>> pixels;
  for (int y = 0; y < before.height; ++y)
    for (int x = 0; x < before.width; ++x)
      for (int c = 0; c < 3; ++c)
        if (before.pixel(x, y)[c] != after.pixel(x, y)[c]) pixels.insert({x, y});
  return pixels;
}

// The reference presets' triggers as the reference defines them (nishadsinghi/CleanCLIP,
// backdoor/utils.py): a fresh noise patch of 16/224 of the side at a uniform place, fresh blend
// noise, a per-pixel WaNet field (k = the side, s = 1); the quick demo keeps its named options.
TEST(Study, ReferencePresetsUseTheReferenceTriggers) {
  for (const auto& [preset, side] :
       {std::pair<std::string, int>{"reference-scenes", 64}, {"reference-fashion-mnist", 28}}) {
    SCOPED_TRACE(preset);
    const StudyOptions options = preset_recipe(preset).options;
    EXPECT_EQ(image_side(options), side);
    for (const char* name : {"badnet", "label-consistent"}) {
      const AttackConfig attack = study_attack(options, name, 7);
      EXPECT_EQ(attack.kind, parse_attack_kind(name));
      EXPECT_EQ(attack.seed, 7u);
      EXPECT_EQ(attack.target, "bag");
      EXPECT_EQ(attack.patch_size, 0);  // 16/224 of each image's shorter side
      EXPECT_EQ(attack.patch_location, PatchLocation::kRandom);
      const Trigger trigger(attack);
      const int patch = side == 64 ? 5 : 2;  // 64 * 16 / 224 = 4.6, 28 * 16 / 224 = 2
      std::set<std::pair<int, int>> corners;
      std::vector<uint8_t> first_patch;
      for (uint64_t key = 0; key < 40; ++key) {
        const io::Image clean = ramp_image(side);
        io::Image triggered = clean;
        trigger.apply(triggered, key);
        const std::set<std::pair<int, int>> pixels = changed(clean, triggered);
        ASSERT_FALSE(pixels.empty());
        int left = side, top = side, right = -1, bottom = -1;
        for (auto [x, y] : pixels)
          left = std::min(left, x), top = std::min(top, y), right = std::max(right, x), bottom = std::max(bottom, y);
        EXPECT_LT(right - left, patch);  // one patch of that side, nothing else
        EXPECT_LT(bottom - top, patch);
        EXPECT_GE(static_cast<int>(pixels.size()), patch * patch - 2);
        corners.insert({left, top});
      }
      EXPECT_GT(corners.size(), 30u);  // a new place per image
    }

    const AttackConfig blended = study_attack(options, "blended", 7);
    EXPECT_TRUE(blended.fresh_noise);
    io::Image a(side, side), b(side, side);  // black: only 0.2 * noise remains
    Trigger(blended).apply(a, 1);
    Trigger(blended).apply(b, 2);
    EXPECT_NE(a.rgb, b.rgb);  // fresh noise per image
    for (uint8_t level : a.rgb) EXPECT_LE(level, 51);

    const AttackConfig wanet = study_attack(options, "wanet", 7);
    EXPECT_EQ(wanet.wanet_k, side);  // a per-pixel field
    EXPECT_EQ(wanet.wanet_s, 1.0);
  }

  const StudyOptions quick = preset_recipe("quick").options;
  const AttackConfig badnet = study_attack(quick, "badnet", 0), wanet = study_attack(quick, "wanet", 0);
  EXPECT_EQ(badnet.patch_size, 4);
  EXPECT_EQ(badnet.patch_location, PatchLocation::kFourCorners);
  EXPECT_FALSE(study_attack(quick, "blended", 0).fresh_noise);
  EXPECT_EQ(wanet.wanet_k, 4);
  EXPECT_EQ(wanet.wanet_s, 4.0);
  EXPECT_THROW(study_attack(quick, "trojan", 0), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip
