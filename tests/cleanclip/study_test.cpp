// The study end to end at a toy size (a few hundred Fashion-MNIST images, one
// epoch each): every stage runs and is evaluated, the report is written, a
// rerun reuses the finished stages, and another recipe in the same folder is
// refused.
#include "cleanclip/study.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace clipgrad::cleanclip
