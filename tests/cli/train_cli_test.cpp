// clipgrad train / eval / probe end to end on a tiny synthetic dataset, and a
// run killed mid-way that resumes to the same losses, bit for bit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <nlohmann/json.hpp>

#include "colour_squares.h"
#include "cli/run_clipgrad.h"
#include "tensor/cpu/gemm.h"
#include "io/image.h"

namespace fs = std::filesystem;

namespace {

// 40 colour squares (colour_squares.h).
fs::path make_dataset() {
  fs::path dir = fs::temp_directory_path() / ("clipgrad_train_" + std::to_string(getpid()));
  clipgrad::testing::write_colour_squares(dir, 40);
  return dir;
}

int run(const std::string& arguments) { return clipgrad::testing::run_clipgrad(arguments).exit_code; }

std::vector<std::string> losses(const fs::path& run_dir) {
  std::vector<std::string> out;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line).at("loss").dump());
  return out;
}

const std::string kTrainFlags = " --model vit-tiny-28 --batch-size 8 --lr 1e-3 --warmup 3 --seed 7 --workers 2";

}  // namespace

TEST(TrainCli, TrainsEvaluatesAndProbes) {
  fs::path dir = make_dataset();
  fs::path run_dir = dir / "run";
  ASSERT_EQ(run("train --data " + (dir / "train.csv").string() + " --out " + run_dir.string() + " --epochs 2" +
                kTrainFlags + " 2>/dev/null >/dev/null"),
            0);
  std::vector<std::string> logged = losses(run_dir);
  ASSERT_EQ(logged.size(), 10u);  // 2 epochs of 5 batches
  // Training learned: the second epoch's mean loss is below the first's.
  double first = 0, second = 0;
  for (int i = 0; i < 5; ++i) first += std::stod(logged[i]), second += std::stod(logged[5 + i]);
  EXPECT_LT(second, first);
  std::string model = (run_dir / "model.safetensors").string();
  fs::path result = dir / "eval.json";
  ASSERT_EQ(run("eval --model " + model + " --labels " + (dir / "test.csv").string() + " --classes " +
                (dir / "classes.json").string() + " --json " + result.string() + " >/dev/null"),
            0);
  nlohmann::json accuracy = nlohmann::json::parse(std::ifstream(result));
  EXPECT_EQ(accuracy.at("n"), 40);
  // Four colours, each captioned by its name: well above the 0.25 of chance.
  EXPECT_GE(accuracy.at("top1").get<double>(), 0.5);
  EXPECT_EQ(accuracy.at("per_class").size(), 4u);
  fs::path probe = dir / "probe.json";
  ASSERT_EQ(run("probe --model " + model + " --train " + (dir / "test.csv").string() + " --test " +
                (dir / "test.csv").string() + " --classes " + (dir / "classes.json").string() + " --json " +
                probe.string() + " >/dev/null"),
            0);
  // Four flat colours are linearly separable in any non-degenerate feature space.
  EXPECT_GE(nlohmann::json::parse(std::ifstream(probe)).at("top1").get<double>(), 0.9);
  fs::remove_all(dir);
}

TEST(TrainCli, KilledRunResumesToTheSameLosses) {
  fs::path dir = make_dataset();
  std::string data = " --data " + (dir / "train.csv").string() + " --epochs 4" + kTrainFlags;
  fs::path straight = dir / "straight", resumed = dir / "resumed";
  ASSERT_EQ(run("train" + data + " --out " + straight.string() + " 2>/dev/null >/dev/null"), 0);

  // Kill it as soon as its first epoch is on disk.
  const int status = clipgrad::testing::stop_when_file_appears(
      std::string(CLIPGRAD_BINARY) + " train" + data + " --out " + resumed.string(), resumed / "checkpoint.safetensors",
      SIGKILL);
  ASSERT_TRUE(fs::exists(resumed / "checkpoint.safetensors"));
  // The kill interrupted the run: it died of the signal, before its last epoch.
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the run ended before it was killed";
  ASSERT_LT(losses(resumed).size(), losses(straight).size());
  // A kill mid-write leaves a torn last line; resume drops it.
  std::ofstream(resumed / "metrics.jsonl", std::ios::app) << "{\"epoch\": 2, \"step\": 9";

  ASSERT_EQ(run("train --resume " + resumed.string() + " 2>/dev/null >/dev/null"), 0);
  EXPECT_EQ(losses(resumed), losses(straight));
  fs::remove_all(dir);
}

// --precision bf16 trains with torch.autocast's roundings (other losses than
// fp32's, the same for the same seed); --tf32 is --precision tf32 (on the CPU,
// fp32's bits); bench takes bf16 too; anything else is refused.
TEST(TrainCli, PrecisionFlag) {
  fs::path dir = make_dataset();
  const std::string data = " --data " + (dir / "train.csv").string() + " --epochs 1" + kTrainFlags;
  for (const char* precision : {"fp32", "bf16", "tf32"})
    ASSERT_EQ(run("train" + data + " --precision " + precision + " --out " + (dir / precision).string() +
                  " 2>/dev/null >/dev/null"),
              0)
        << precision;
  ASSERT_EQ(run("train" + data + " --tf32 --out " + (dir / "tf32-flag").string() + " 2>/dev/null >/dev/null"), 0);
  EXPECT_NE(losses(dir / "bf16"), losses(dir / "fp32"));
  EXPECT_EQ(losses(dir / "tf32"), losses(dir / "fp32"));  // TF32 is a CUDA switch
  EXPECT_EQ(losses(dir / "tf32-flag"), losses(dir / "tf32"));
  const auto refused =
      clipgrad::testing::run_clipgrad("train" + data + " --precision fp16 --out " + (dir / "fp16").string());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("fp16 not in {fp32,tf32,bf16}"), std::string::npos) << refused.output;
  EXPECT_EQ(run("bench --model vit-tiny-28 --device cpu --batch 4 --steps 1 --warmup 0 --precision bf16 >/dev/null"),
            0);
  fs::remove_all(dir);
}

// Every reduction has a fixed order, gradient clipping's norm and every GEMM
// included (tensor/cpu/gemm.cpp cuts each product into blocks that depend on
// its shape alone): the same losses and the same weights, bit for bit, on 1,
// 2, 3 and 4 threads, under each OpenBLAS kernel family this CPU runs (1 and 3
// threads for all but the first family, to keep the test short).
TEST(TrainCli, SameBitsOnAnyThreadCount) {
  fs::path dir = make_dataset();
  std::string args = " train --data " + (dir / "train.csv").string() + " --epochs 1 --grad-clip 0.5" + kTrainFlags;
  std::vector<std::string> families = clipgrad::cpu::blas_kernels_for_this_cpu();
  if (families.empty()) families = {""};  // no AVX2: whatever OpenBLAS picks
  for (size_t f = 0; f < families.size(); ++f) {
    const std::string& family = families[f];
    const std::string coretype = family.empty() ? "" : "OPENBLAS_CORETYPE=" + family + " ";
    std::vector<std::string> reference_losses;
    std::string reference_model;
    for (int threads : f == 0 ? std::vector<int>{1, 2, 3, 4} : std::vector<int>{1, 3}) {
      SCOPED_TRACE(coretype + std::to_string(threads) + " threads");
      fs::path out = dir / (family + "threads" + std::to_string(threads));
      const std::string command = coretype + "OMP_NUM_THREADS=" + std::to_string(threads) + " '" + CLIPGRAD_BINARY +
                                  "'" + args + " --out " + out.string() + " 2>/dev/null >/dev/null";
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
      std::ifstream model(out / "model.safetensors", std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(model)), std::istreambuf_iterator<char>());
      if (threads == 1) {
        reference_losses = losses(out);
        reference_model = bytes;
        ASSERT_FALSE(reference_losses.empty());
      } else {
        EXPECT_EQ(losses(out), reference_losses);
        EXPECT_TRUE(bytes == reference_model) << "the weights differ";
      }
    }
  }
  fs::remove_all(dir);
}

TEST(TrainCli, ResumeWithoutCheckpointFailsClearly) {
  fs::path empty = fs::temp_directory_path() / ("clipgrad_empty_" + std::to_string(getpid()));
  fs::create_directories(empty);
  EXPECT_NE(run("train --resume " + empty.string() + " 2>/dev/null"), 0);
  fs::remove_all(empty);
}
