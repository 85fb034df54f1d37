// clipgrad demo under mpirun: the study at a toy size on two processes (the
// training stages data parallel at the same global batch, the rest on rank 0)
// gives the single-process study: every training stage's per-step losses to a
// relative 1e-5, and each stage's clean top-1 and attack success rate within
// one test image (rounding may tip one borderline image). Skipped without
// mpirun or without the Fashion-MNIST package.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/run_clipgrad.h"
#include "test_temp_dir.h"

namespace fs = std::filesystem;
using clipgrad::testing::run_clipgrad;
using clipgrad::testing::run_command;

namespace {

// (The global batch comes with each test.)
const std::string kToyStudy =
    " --train-images 240 --test-images 60 --pretrain-epochs 1 --poison-count 24"
    " --finetune-rows 64 --finetune-epochs 1 --supervised-epochs 1 --workers 1";

std::string mpirun2() {
  return "mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 '" + std::string(CLIPGRAD_BINARY) + "'";
}

std::vector<double> losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

bool can_run() {
  return std::system("command -v mpirun >/dev/null 2>&1") == 0 && fs::exists("/usr/share/datasets/fashion-mnist");
}

}  // namespace

TEST(DemoMpiCli, TwoProcessesRunTheSingleProcessStudy) {
  if (!can_run()) GTEST_SKIP() << "needs mpirun and Debian's dataset-fashion-mnist";
  clipgrad::testing::TempDir dir("demo_mpi");
  const fs::path one = dir.file("one"), two = dir.file("two");
  auto single = run_clipgrad("demo --out " + one.string() + kToyStudy + " --batch-size 16");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  auto parallel = run_command(mpirun2() + " demo --out " + two.string() + kToyStudy + " --batch-size 16");
  ASSERT_EQ(parallel.exit_code, 0) << parallel.output;
  // Rank 0 alone reports.
  EXPECT_EQ(parallel.output.find("report: "), parallel.output.rfind("report: ")) << parallel.output;

  for (const char* stage :
       {"clean-pretrain", "badnet/poisoned-pretrain", "badnet/clip-finetune", "badnet/cleanclip-finetune"}) {
    std::vector<double> want = losses(one / "seed0" / stage / "metrics.jsonl");
    std::vector<double> got = losses(two / "seed0" / stage / "metrics.jsonl");
    ASSERT_EQ(got.size(), want.size()) << stage;
    ASSERT_FALSE(want.empty()) << stage;
    for (size_t step = 0; step < want.size(); ++step)
      EXPECT_NEAR(got[step], want[step], 1e-5 * std::abs(want[step])) << stage << " step " << step;
  }
  auto results = [](const fs::path& study) {
    nlohmann::json json = nlohmann::json::parse(std::ifstream(study / "results.json"));
    return json.is_array() ? json.at(0) : json;
  };
  nlohmann::json want = results(one), got = results(two);
  ASSERT_EQ(got.at("stages").size(), 5u);
  for (size_t i = 0; i < want.at("stages").size(); ++i) {
    const nlohmann::json &w = want["stages"][i], &g = got["stages"][i];
    EXPECT_EQ(g.at("name"), w.at("name"));
    EXPECT_NEAR(g.at("clean_top1").get<double>(), w.at("clean_top1").get<double>(), 1.0 / 60 + 1e-9) << w.at("name");
    const double one_image = 1.0 / w.at("asr_n").get<double>() + 1e-9;
    EXPECT_NEAR(g.at("asr").get<double>(), w.at("asr").get<double>(), one_image) << w.at("name");
  }
}

TEST(DemoMpiCli, AGlobalBatchThatDoesNotSplitIsRefusedBeforeAnyWork) {
  if (!can_run()) GTEST_SKIP() << "needs mpirun and Debian's dataset-fashion-mnist";
  clipgrad::testing::TempDir dir("demo_mpi_batch");
  auto result = run_command(mpirun2() + " demo --out " + dir.file("study") + kToyStudy + " --batch-size 15");
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("demo --batch-size: 15 rows do not split evenly over 2 processes"), std::string::npos)
      << result.output;
  EXPECT_FALSE(fs::exists(dir.file("study"))) << "work was done before the refusal";
}
