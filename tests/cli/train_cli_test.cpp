// clipgrad train / eval / probe end to end on a tiny synthetic dataset, and a
// run killed mid-way that resumes to the same losses, bit for bit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/run_clipgrad.h"
#include "io/image.h"

namespace fs = std::filesystem;

namespace {

// 40 images in 4 colour classes, captioned by colour.
fs::path make_dataset() {
  fs::path dir = fs::temp_directory_path() / ("clipgrad_train_" + std::to_string(getpid()));
  fs::create_directories(dir / "images");
  const char* names[4] = {"red", "green", "blue", "white"};
  const uint8_t colours[4][3] = {{220, 30, 30}, {30, 200, 40}, {30, 40, 210}, {240, 240, 240}};
  std::ofstream train(dir / "train.csv"), test(dir / "test.csv");
  train << "image,caption\n";
  test << "image,label\n";
  for (int i = 0; i < 40; ++i) {
    int c = i % 4;
    std::vector<uint8_t> pixels(28 * 28 * 3);
    for (size_t p = 0; p < pixels.size(); ++p) pixels[p] = static_cast<uint8_t>(colours[c][p % 3] + (p * 7 + i) % 13);
    std::string name = "images/" + std::to_string(i) + ".png";
    clipgrad::io::write_png((dir / name).string(), 28, 28, 3, pixels.data());
    train << name << ",\"a photo of a " << names[c] << " square, " << i << "\"\n";
    test << name << "," << c << "\n";
  }
  std::ofstream(dir / "classes.json") << R"({"classes": ["red", "green", "blue", "white"],
    "templates": ["a photo of a {} square.", "a {} square."]})";
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
  EXPECT_EQ(losses(run_dir).size(), 10u);  // 2 epochs of 5 batches
  std::string model = (run_dir / "model.safetensors").string();
  fs::path result = dir / "eval.json";
  ASSERT_EQ(run("eval --model " + model + " --labels " + (dir / "test.csv").string() + " --classes " +
                (dir / "classes.json").string() + " --json " + result.string() + " >/dev/null"),
            0);
  nlohmann::json accuracy = nlohmann::json::parse(std::ifstream(result));
  EXPECT_EQ(accuracy.at("n"), 40);
  EXPECT_GE(accuracy.at("top5").get<double>(), 1.0);  // 4 classes: the true one is always in the top 5
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

  pid_t child = fork();
  if (child == 0) {
    std::string command = std::string(CLIPGRAD_BINARY) + " train" + data + " --out " + resumed.string() +
                          " 2>/dev/null >/dev/null";
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), nullptr);
    _exit(127);
  }
  // Kill it as soon as its first epoch is on disk.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(resumed / "checkpoint.safetensors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(resumed / "checkpoint.safetensors"));

  ASSERT_EQ(run("train --resume " + resumed.string() + " 2>/dev/null >/dev/null"), 0);
  EXPECT_EQ(losses(resumed), losses(straight));
  fs::remove_all(dir);
}

TEST(TrainCli, ResumeWithoutCheckpointFailsClearly) {
  fs::path empty = fs::temp_directory_path() / ("clipgrad_empty_" + std::to_string(getpid()));
  fs::create_directories(empty);
  EXPECT_NE(run("train --resume " + empty.string() + " 2>/dev/null"), 0);
  fs::remove_all(empty);
}
