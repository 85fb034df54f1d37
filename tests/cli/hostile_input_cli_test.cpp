// The clipgrad binary against hostile and careless input (docs/bad_input.md):
// a broken model never scores, a run is never overwritten, a failed poison
// leaves the earlier output, numeric flags are checked, and every failure is
// one line naming what to fix.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <iterator>
#include <limits>
#include <string>

#include "cli/run_clipgrad.h"
#include "clip/checkpoint/checkpoint.h"
#include "io/image.h"
#include "test_temp_dir.h"

namespace clipgrad {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::run_clipgrad;
using testing::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One line on stderr, a non-zero exit, no signal.
void expect_one_line_error(const CommandResult& result, const std::string& expected) {
  EXPECT_GT(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, expected)) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
}

// Eight 28 x 28 images of two shades, their labels (test.csv) and captions (train.csv), two classes.
void write_dataset(const TempDir& dir) {
  std::ofstream test(dir.file("test.csv")), train(dir.file("train.csv"));
  test << "image,label\n";
  train << "image,caption\n";
  for (int i = 0; i < 8; ++i) {
    std::vector<uint8_t> pixels(28 * 28 * 3, static_cast<uint8_t>(i % 2 ? 40 : 220));
    io::write_png(dir.file("img" + std::to_string(i) + ".png"), 28, 28, 3, pixels.data());
    test << "img" << i << ".png," << i % 2 << "\n";
    train << "img" << i << ".png,a photo of a " << (i % 2 ? "cat" : "dog") << "\n";
  }
  std::ofstream(dir.file("classes.json")) << R"({"classes": ["dog", "cat"], "templates": ["a photo of a {}."]})";
}

// vit-tiny-28 as initialised, or with its visual projection set to `value`
// everywhere (0 or NaN: a broken model).
std::string write_model(const TempDir& dir, const std::string& name, std::optional<float> value = std::nullopt) {
  clip::ClipModel model(clip::ClipConfig::named("vit-tiny-28"));
  Generator generator(3);
  model.init_openai(generator);
  for (auto& [parameter, variable] : model.named_parameters())
    if (parameter == "visual.proj" && value) variable.value().fill(*value);
  clip::save_clip(model, dir.file(name), clip::CheckpointLayout::OpenAI);
  return dir.file(name);
}

TEST(HostileInputCli, ABrokenModelIsRefusedNeverScored) {
  TempDir dir("hostile_cli");
  write_dataset(dir);
  const std::string data = " --labels '" + dir.file("test.csv") + "' --classes '" + dir.file("classes.json") + "'";
  CommandResult result = run_clipgrad("eval --model '" + write_model(dir, "ok.safetensors") + "'" + data);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  const std::string zeros = write_model(dir, "zeros.safetensors", 0.0f);
  result = run_clipgrad("eval --model '" + zeros + "'" + data + " --json '" + dir.file("r.json") + "'");
  expect_one_line_error(
      result, "eval: model '" + zeros + "' cannot be evaluated: " + dir.file("test.csv") + ":2: every class scores 0");
  EXPECT_FALSE(fs::exists(dir.file("r.json")));
  const std::string nans = write_model(dir, "nan.safetensors", std::numeric_limits<float>::quiet_NaN());
  result = run_clipgrad("eval --model '" + nans + "'" + data);
  expect_one_line_error(result, "cannot be evaluated: the image features of " + dir.file("test.csv") + ":2 hold nan");
  result = run_clipgrad("probe --model '" + zeros + "' --train '" + dir.file("test.csv") + "' --test '" +
                        dir.file("test.csv") + "' --classes '" + dir.file("classes.json") + "' --epochs 1");
  expect_one_line_error(result, "probe: model '" + zeros + "' cannot be evaluated");
}

TEST(HostileInputCli, AnEvaluationOfNoImageOrOfUnknownClassesIsAnError) {
  TempDir dir("hostile_cli");
  write_dataset(dir);
  const std::string model = write_model(dir, "ok.safetensors");
  std::ofstream(dir.file("gone.csv")) << "image,label\nnone0.png,0\nnone1.png,1\n";
  CommandResult result = run_clipgrad("eval --model '" + model + "' --labels '" + dir.file("gone.csv") +
                                      "' --classes '" + dir.file("classes.json") + "'");
  EXPECT_EQ(result.exit_code, 1) << result.output;  // after a warning per image
  EXPECT_TRUE(contains(result.output, "clipgrad: none of the 2 images could be read (first: " + dir.file("gone.csv") +
                                          ":2; see the warnings above)"))
      << result.output;
  std::ofstream(dir.file("twelve.csv")) << "image,label\nimg0.png,0\nimg1.png,12\n";
  result = run_clipgrad("eval --model '" + model + "' --labels '" + dir.file("twelve.csv") + "' --classes '" +
                        dir.file("classes.json") + "'");
  expect_one_line_error(result, dir.file("twelve.csv") + ":3: label 12 is not one of the 2 classes");
  std::ofstream(dir.file("twice.json")) << R"({"classes": ["dog", "dog"]})";
  result = run_clipgrad("eval --model '" + model + "' --labels '" + dir.file("test.csv") + "' --classes '" +
                        dir.file("twice.json") + "'");
  expect_one_line_error(result, "class 1 'dog' appears twice");
  // --json to a folder that does not exist: an error naming it, not exit 0 without a file.
  result = run_clipgrad("eval --model '" + model + "' --labels '" + dir.file("test.csv") + "' --classes '" +
                        dir.file("classes.json") + "' --json '" + dir.file("absent/r.json") + "'");
  EXPECT_EQ(result.exit_code, 1) << result.output;  // after the accuracy lines
  EXPECT_TRUE(contains(result.output, "clipgrad: cannot write '" + dir.file("absent/r.json") + "'")) << result.output;
}

TEST(HostileInputCli, TrainNeverReplacesARunUnasked) {
  TempDir dir("hostile_cli");
  write_dataset(dir);
  fs::create_directories(dir.file("run"));
  std::ofstream(dir.file("run/checkpoint.safetensors")) << "an earlier run";
  std::ofstream(dir.file("run/metrics.jsonl")) << "{\"step\": 0}\n";
  const std::string train = "train --data '" + dir.file("train.csv") + "' --out '" + dir.file("run") + "'";
  CommandResult result = run_clipgrad(train + " --epochs 1 --batch-size 4");
  expect_one_line_error(result, "holds a run (checkpoint.safetensors, metrics.jsonl); continue it with --resume " +
                                    dir.file("run") + ", replace it with --overwrite");
  // --overwrite, but the run fails at start-up: the earlier run is as it was.
  result = run_clipgrad(train + " --epochs 1 --batch-size 64 --overwrite");
  expect_one_line_error(result, "fewer than one batch of 64");
  EXPECT_EQ(slurp(dir.file("run/checkpoint.safetensors")), "an earlier run");
  EXPECT_EQ(slurp(dir.file("run/metrics.jsonl")), "{\"step\": 0}\n");
}

TEST(HostileInputCli, NumericFlagsAreCheckedWithoutWraparound) {
  TempDir dir("hostile_cli");
  write_dataset(dir);
  const std::string train = "train --data '" + dir.file("train.csv") + "' --out '" + dir.file("run") + "' ";
  expect_one_line_error(run_clipgrad(train + "--seed -1"), "--seed: '-1' is not a seed");
  expect_one_line_error(run_clipgrad(train + "--seed 18446744073709551616"), "is not a seed");
  expect_one_line_error(run_clipgrad(train + "--epochs 0"), "--epochs: '0' is not an integer from 1");
  expect_one_line_error(run_clipgrad(train + "--grad-clip nan"), "--grad-clip: 'nan' is not a finite number");
  expect_one_line_error(run_clipgrad(train + "--lr inf"), "--lr: 'inf' is not a finite number > 0");
  expect_one_line_error(run_clipgrad(train + "--workers 1000"), "--workers: '1000' is not an integer from 0 to");
  expect_one_line_error(run_clipgrad(train + "--max-image-pixels 0"), "--max-image-pixels: '0'");
  expect_one_line_error(run_clipgrad(train + "--model vit-tiny-28 --config rn-tiny"),
                        "--config sets the config of a checkpoint, and --model vit-tiny-28 is a named config");
  expect_one_line_error(run_clipgrad("poison --data '" + dir.file("train.csv") + "' --out '" + dir.file("p") +
                                     "' --attack wanet --target cat --num 1 --wanet-k 20000"),
                        "--wanet-k: '20000' is not an integer from 2 to 1024");
  expect_one_line_error(run_clipgrad("eval --model m --labels l --classes c --workers 1000"), "--workers");
  expect_one_line_error(run_clipgrad("eval --model m --labels l --classes c --json ''"), "--json");
  expect_one_line_error(run_clipgrad("train --data /dev/zero --out '" + dir.file("run") + "'"),
                        "shard '/dev/zero' is not a regular file");
}

// A failed poison into a folder holding an earlier one left old and new images mixed under a stale attack.json.
TEST(HostileInputCli, AFailedPoisonLeavesTheEarlierOutputWhole) {
  TempDir dir("hostile_cli");
  write_dataset(dir);
  const std::string out = dir.file("poisoned");
  CommandResult result = run_clipgrad("poison --data '" + dir.file("train.csv") + "' --out '" + out +
                                      "' --attack badnet --target cat --num 2 --seed 1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string attack = slurp(out + "/attack.json"), csv = slurp(out + "/train.csv");
  fs::remove(dir.file("img5.png"));  // every row is poisoned below: the run fails at a missing image
  result = run_clipgrad("poison --data '" + dir.file("train.csv") + "' --out '" + out +
                        "' --attack badnet --target cat --num 8 --seed 2");
  expect_one_line_error(result, dir.file("train.csv") + ":7: image file not found");
  EXPECT_EQ(slurp(out + "/attack.json"), attack);
  EXPECT_EQ(slurp(out + "/train.csv"), csv);
  EXPECT_EQ(std::distance(fs::directory_iterator(out + "/images"), fs::directory_iterator()), 2);
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_FALSE(contains(entry.path().filename().string(), ".tmp.")) << "left behind: " << entry.path();
  // A folder with other files in it is never replaced.
  std::ofstream(out + "/notes.txt") << "mine";
  result = run_clipgrad("poison --data '" + dir.file("train.csv") + "' --out '" + out +
                        "' --attack badnet --target cat --num 1");
  expect_one_line_error(result, "holds 'notes.txt', which this command does not write");
}

TEST(HostileInputCli, RunningOutOfMemoryIsOneLineNamingTheCommandAndTheSize) {
  const CommandResult result =
      run_clipgrad("bench --device cpu --model vit-tiny-28 --batch 16000000 --steps 1 --warmup 0");
  expect_one_line_error(result, "clipgrad: out of memory: ");
  EXPECT_TRUE(contains(result.output, "GB asked for at once")) << result.output;
  EXPECT_TRUE(contains(result.output, "running 'bench --device cpu --model vit-tiny-28 --batch 16000000"))
      << result.output;
}

}  // namespace
}  // namespace clipgrad
