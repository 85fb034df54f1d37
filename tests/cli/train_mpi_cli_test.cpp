// clipgrad train under mpirun: two processes at --batch-size 64 follow one
// process at 128 (the same global batch): per-step losses to a relative 1e-5
// and final weights to 1e-4, with the full loss, with --local-loss, with the
// optimizer state sharded (--zero 1, also clipped and resumed), and for a run
// killed on two processes and resumed on one. Skipped without mpirun.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "colour_squares.h"
#include "cli/run_clipgrad.h"
#include "io/image.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace {

// 256 colour squares (two global batches of 128; colour_squares.h).
fs::path make_dataset() {
  fs::path dir = fs::temp_directory_path() / ("clipgrad_train_mpi_" + std::to_string(getpid()));
  clipgrad::testing::write_colour_squares(dir, 256);
  return dir;
}

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

// Two processes, one thread each (the machine's two cores).
std::string mpirun2() {
  return "mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 '" + std::string(CLIPGRAD_BINARY) + "'";
}

const std::string kFlags = " --model vit-tiny-28 --epochs 3 --lr 1e-3 --warmup 2 --seed 3 --workers 1";

std::vector<double> losses(const fs::path& run_dir) {
  std::vector<double> out;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

void expect_same_run(const fs::path& run, const fs::path& reference) {
  std::vector<double> got = losses(run), expected = losses(reference);
  ASSERT_EQ(got.size(), expected.size()) << run;
  for (size_t step = 0; step < got.size(); ++step)
    EXPECT_NEAR(got[step], expected[step], 1e-5 * std::abs(expected[step])) << run << " step " << step;
  auto weights = clipgrad::io::read_safetensors((run / "model.safetensors").string());
  auto reference_weights = clipgrad::io::read_safetensors((reference / "model.safetensors").string());
  ASSERT_EQ(weights.tensors.size(), reference_weights.tensors.size());
  for (const auto& [name, stored] : reference_weights.tensors) {
    std::vector<float> want = stored.value.to_vector<float>();
    std::vector<float> have = weights.tensors.at(name).value.to_vector<float>();
    double scale = 0, difference = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      scale = std::max(scale, double(std::abs(want[i])));
      difference = std::max(difference, double(std::abs(have[i] - want[i])));
    }
    // The key third of in_proj_bias has a zero gradient in exact arithmetic
    // (softmax ignores a constant per query) and Adam turns its rounding
    // noise into lr-sized steps: its values (~1e-3) are noise, so the scale
    // has a floor of 0.1, the order of the weights.
    EXPECT_LE(difference, 1e-4 * std::max(scale, 0.1)) << run << ": " << name;
  }
  // The checkpoint holds the whole optimizer state (gathered, when sharded), under the same names.
  auto checkpoint = clipgrad::io::read_safetensors((run / "checkpoint.safetensors").string());
  auto reference_checkpoint = clipgrad::io::read_safetensors((reference / "checkpoint.safetensors").string());
  std::vector<std::string> names, reference_names;
  for (const auto& [name, stored] : checkpoint.tensors) names.push_back(name);
  for (const auto& [name, stored] : reference_checkpoint.tensors) reference_names.push_back(name);
  EXPECT_EQ(names, reference_names) << run;
}

class TrainMpiCli : public ::testing::Test {
 protected:
  // One dataset and one single-process reference run for all the tests.
  static void SetUpTestSuite() {
    if (!have_mpirun()) return;
    dir_ = make_dataset();
    data_ = " --data " + (dir_ / "train.csv").string() + kFlags;
    reference_ = dir_ / "one_process";
    reference_ok_ = run_clipgrad("train" + data_ + " --batch-size 128 --out " + reference_.string()) == 0;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "mpirun not found";
    ASSERT_TRUE(reference_ok_) << "the single-process reference run failed";
  }
  static int run_clipgrad(const std::string& arguments) {
    return clipgrad::testing::run_clipgrad(arguments + " >/dev/null 2>&1").exit_code;
  }
  // Starts `arguments` on two processes and stops the job as soon as its
  // first epoch is on disk (mpirun takes its ranks down).
  static void stop_after_first_epoch(const std::string& arguments, const fs::path& run) {
    clipgrad::testing::stop_when_file_appears(mpirun2() + " " + arguments, run / "checkpoint.safetensors", SIGTERM);
    ASSERT_TRUE(fs::exists(run / "checkpoint.safetensors"));
    auto checkpoint = clipgrad::io::read_safetensors((run / "checkpoint.safetensors").string());
    ASSERT_LT(std::stoi(checkpoint.metadata.at("epoch")), 3) << "the job ended before it was stopped";
    EXPECT_EQ(checkpoint.metadata.at("world_size"), "2");
  }
  static int run_mpi(const std::string& arguments) {
    clipgrad::testing::CommandResult result = clipgrad::testing::run_command(mpirun2() + " " + arguments);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return result.exit_code;
  }
  static inline fs::path dir_, reference_;
  static inline std::string data_;
  static inline bool reference_ok_ = false;
};

}  // namespace

TEST_F(TrainMpiCli, TwoProcessesFollowOneAtTheGlobalBatch) {
  fs::path run = dir_ / "two_processes";
  ASSERT_EQ(run_mpi("train" + data_ + " --batch-size 64 --out " + run.string()), 0);
  expect_same_run(run, reference_);
}

TEST_F(TrainMpiCli, LocalLossIsTheSameLoss) {
  fs::path run = dir_ / "local_loss";
  ASSERT_EQ(run_mpi("train" + data_ + " --batch-size 64 --local-loss --out " + run.string()), 0);
  expect_same_run(run, reference_);
}

// The sharded update is AdamW's arithmetic on the reduce-scattered shards:
// the same bits as the unsharded two-process run, not merely close.
TEST_F(TrainMpiCli, ShardedOptimizerStateTakesTheSameSteps) {
  fs::path run = dir_ / "zero1", unsharded = dir_ / "zero1_reference";
  ASSERT_EQ(run_mpi("train" + data_ + " --batch-size 64 --zero 1 --out " + run.string()), 0);
  expect_same_run(run, reference_);
  ASSERT_EQ(run_mpi("train" + data_ + " --batch-size 64 --out " + unsharded.string()), 0);
  auto weights = clipgrad::io::read_safetensors((run / "model.safetensors").string());
  auto unsharded_weights = clipgrad::io::read_safetensors((unsharded / "model.safetensors").string());
  for (const auto& [name, stored] : unsharded_weights.tensors)
    EXPECT_EQ(weights.tensors.at(name).value.to_vector<float>(), stored.value.to_vector<float>()) << name;
}

TEST_F(TrainMpiCli, KilledOnTwoProcessesResumesOnOne) {
  fs::path run = dir_ / "resumed";
  stop_after_first_epoch("train" + data_ + " --batch-size 64 --out " + run.string(), run);
  // One process continues at the same global batch of 128.
  ASSERT_EQ(run_clipgrad("train --resume " + run.string()), 0);
  expect_same_run(run, reference_);
}

// --accum-freq 2 at --batch-size 32 on two processes: the global batch of 128
// again, as two micro-batches per rank whose gathered features are the batch.
TEST_F(TrainMpiCli, AccumulatedMicroBatchesFollowTheGlobalBatch) {
  fs::path run = dir_ / "accumulated";
  ASSERT_EQ(run_mpi("train" + data_ + " --batch-size 32 --accum-freq 2 --out " + run.string()), 0);
  expect_same_run(run, reference_);
}

// Webdataset shards: each rank streams its own shards (8 of 32 samples, every
// second one of the epoch's order); the ranks take the steps the counts promise.
TEST_F(TrainMpiCli, RanksStreamTheirOwnShards) {
  fs::path shards = dir_ / "shards", run = dir_ / "sharded";
  ASSERT_EQ(
      run_clipgrad("data shards --shard-size 32 --from " + (dir_ / "train.csv").string() + " --out " + shards.string()),
      0);
  ASSERT_EQ(run_mpi("train --data " + (shards / "{00000..00007}.tar").string() + kFlags +
                    " --batch-size 64 --shuffle-buffer 16 --out " + run.string()),
            0);
  EXPECT_EQ(losses(run).size(), 6u);  // 3 epochs of 256 samples at a global batch of 128
}

// Gradient clipping on the shards (the norm all-reduced) and the sharded
// state gathered into the checkpoint and cut again on resume.
TEST_F(TrainMpiCli, ShardedAndClippedRunResumesOnTwoProcesses) {
  const std::string clip = " --grad-clip 0.05";
  fs::path reference = dir_ / "clipped_one_process", run = dir_ / "clipped_zero1";
  ASSERT_EQ(run_clipgrad("train" + data_ + clip + " --batch-size 128 --out " + reference.string()), 0);
  ASSERT_NE(losses(reference).back(), losses(reference_).back()) << "--grad-clip 0.05 clipped nothing";
  stop_after_first_epoch("train" + data_ + clip + " --batch-size 64 --zero 1 --out " + run.string(), run);
  ASSERT_EQ(run_mpi("train --resume " + run.string()), 0);
  expect_same_run(run, reference);
}

// ModifiedResNet's BatchNorm normalises each rank's slice by its own
// statistics (PyTorch DDP without SyncBatchNorm, the reference code's
// setting), so its losses are near the single process's, not equal to them.
TEST_F(TrainMpiCli, BatchNormModelsUsePerRankStatistics) {
  const std::string rn = " --data " + (dir_ / "train.csv").string() +
                         " --model rn-tiny --epochs 1 --lr 1e-3 --warmup 2 --seed 3 --workers 1";
  fs::path one = dir_ / "rn_one_process", two = dir_ / "rn_two_processes";
  ASSERT_EQ(run_clipgrad("train" + rn + " --batch-size 128 --out " + one.string()), 0);
  ASSERT_EQ(run_mpi("train" + rn + " --batch-size 64 --out " + two.string()), 0);
  std::vector<double> want = losses(one), got = losses(two);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_NE(got[0], want[0]) << "the first step normalised by global-batch statistics";
  for (size_t step = 0; step < want.size(); ++step) EXPECT_NEAR(got[step], want[step], 0.05 * want[step]) << step;
}

// The processes whose command line holds `needle`, mpirun itself left out (read from /proc).
std::vector<pid_t> ranks_running(const std::string& needle) {
  std::vector<pid_t> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string command((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(command.begin(), command.end(), '\0', ' ');
    if (command.find(needle) != std::string::npos && command.find("mpirun") == std::string::npos)
      found.push_back(std::stoi(name));
  }
  return found;
}

// A rank killed outright (no exception, no message of its own) takes the
// job down: mpirun ends the other rank instead of leaving it in a collective.
TEST_F(TrainMpiCli, ARankThatDiesEndsTheJob) {
  fs::path run = dir_ / "killed_rank";
  const std::string flags = " --data " + (dir_ / "train.csv").string() +
                            " --model vit-tiny-28 --epochs 100 --lr 1e-3 --warmup 2 --seed 3 --workers 1"
                            " --batch-size 64 --out " +
                            run.string();
  pid_t job = fork();
  if (job == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + mpirun2() + " train" + flags + " >/dev/null 2>&1").c_str(), nullptr);
    _exit(127);
  }
  // Once a step is logged, both ranks are inside the training loop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  auto logged = [&] { return fs::exists(run / "metrics.jsonl") && fs::file_size(run / "metrics.jsonl") > 0; };
  while (std::chrono::steady_clock::now() < deadline && !logged())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<pid_t> ranks = ranks_running(run.string());
  ASSERT_EQ(ranks.size(), 2u);
  kill(*std::max_element(ranks.begin(), ranks.end()), SIGKILL);
  int status = 0;
  pid_t ended = 0;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && (ended = waitpid(job, &status, WNOHANG)) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (ended == 0) {
    kill(job, SIGKILL);
    waitpid(job, &status, 0);
    FAIL() << "the job was still running 60 s after one of its ranks was killed";
  }
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the job reported success";
  EXPECT_TRUE(ranks_running(run.string()).empty()) << "a rank outlived the job";
}

// A rank that fails (here: an image of its slice is gone, which a
// data-parallel run cannot skip) ends the whole job at once with its error,
// naming the rank; the other rank is not left waiting in a collective.
TEST_F(TrainMpiCli, AFailingRankBringsTheJobDownWithItsError) {
  fs::path broken = dir_ / "broken";
  fs::create_directories(broken);
  {
    std::ifstream in(dir_ / "train.csv");
    std::ofstream out(broken / "train.csv");
    std::string line;
    for (int row = -1; std::getline(in, line); ++row)
      out << (row == 100 ? "images/missing.png,\"a photo of nothing\"" : (row < 0 ? line : "../" + line)) << "\n";
  }
  auto start = std::chrono::steady_clock::now();
  auto [output, exit_code] = clipgrad::testing::run_command(
      "CLIPGRAD_COLLECTIVE_TIMEOUT=600 " + mpirun2() + " train --data " + (broken / "train.csv").string() + kFlags +
      " --batch-size 64 --out " + (broken / "run").string());
  EXPECT_NE(exit_code, 0) << output;
  EXPECT_NE(output.find("clipgrad: rank "), std::string::npos) << output;
  EXPECT_NE(output.find("missing.png"), std::string::npos) << output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(120)) << "it waited for a timeout";
}

// Under the CUDA emulator the MPI world carries CUDA tensors (the emulated
// device's memory is host memory) where a GPU build has NCCL: two processes
// on the emulated GPU follow one, as on the CPU.
TEST_F(TrainMpiCli, TwoProcessesOnTheEmulatedGpuFollowOne) {
#ifndef CLIPGRAD_CUDA_EMULATE
  GTEST_SKIP() << "not the emulated CUDA build (a GPU build's CUDA world is NCCL's: bench/device_check.sh)";
#else
  const std::string flags = " --data " + (dir_ / "train.csv").string() +
                            " --model vit-tiny-28 --epochs 1 --lr 1e-3 --warmup 2 --seed 3 --workers 1 --device cuda";
  fs::path one = dir_ / "emulated_one", two = dir_ / "emulated_two";
  ASSERT_EQ(run_clipgrad("train" + flags + " --batch-size 128 --out " + one.string()), 0);
  ASSERT_EQ(run_mpi("train" + flags + " --batch-size 64 --out " + two.string()), 0);
  expect_same_run(two, one);
#endif
}
