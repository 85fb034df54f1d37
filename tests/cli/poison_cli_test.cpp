// `clipgrad poison` end to end (byte-identical reruns, is_backdoor, relative
// paths, every attack, clear errors, shards in and out) and `clipgrad eval
// --attack-config` on a tiny model trained on the poisoned set, against an ASR
// counted here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "colour_squares.h"
#include "cleanclip/attack/attack_config.h"
#include "cleanclip/attack/trigger.h"
#include "cli/run_clipgrad.h"
#include "clip/checkpoint/checkpoint.h"
#include "clip/data/dataset.h"
#include "clip/data/loader.h"
#include "clip/data/shards.h"
#include "io/tar.h"
#include "clip/eval/zeroshot.h"
#include "io/decode.h"
#include "io/image.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

namespace fs = std::filesystem;
using clipgrad::testing::CommandResult;
using clipgrad::testing::run_clipgrad;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// 40 colour squares with labels (colour_squares.h); test.csv labels the same images.
class PoisonCli : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_colour_squares(dir_.path() / "data", 40, true); }

  CommandResult poison(const std::string& out, const std::string& flags) {
    return run_clipgrad("poison --data " + dir_.file("data/train.csv") + " --out " + dir_.file(out) + " " + flags);
  }

  testing::TempDir dir_{"poison_cli"};
};

TEST_F(PoisonCli, SameSeedGivesTheSameBytesAndOnlyPoisonedRowsChange) {
  for (const char* out : {"a", "b"}) {
    CommandResult result = poison(out, "--attack badnet --target blue --num 8 --seed 3");
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  EXPECT_EQ(slurp(dir_.path() / "a" / "train.csv"), slurp(dir_.path() / "b" / "train.csv"));
  EXPECT_EQ(slurp(dir_.path() / "a" / "attack.json"), slurp(dir_.path() / "b" / "attack.json"));
  int pngs = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path() / "a" / "images")) {
    EXPECT_EQ(slurp(entry.path()), slurp(dir_.path() / "b" / "images" / entry.path().filename())) << entry.path();
    ++pngs;
  }
  EXPECT_EQ(pngs, 8);
  ASSERT_EQ(poison("c", "--attack badnet --target blue --num 8 --seed 4").exit_code, 0);
  EXPECT_NE(slurp(dir_.path() / "a" / "attack.json"), slurp(dir_.path() / "c" / "attack.json"));

  auto input = clip::ImageCaptionDataset::from_csv(dir_.file("data/train.csv"));
  auto output = clip::ImageCaptionDataset::from_csv(dir_.file("a/train.csv"));
  ASSERT_EQ(output.size(), 40u);
  EXPECT_EQ(output.columns(), (std::vector<std::string>{"image", "caption", "label", "is_backdoor"}));
  AttackConfig config = AttackConfig::load(dir_.file("a/attack.json"));
  ASSERT_EQ(config.poisoned_rows.size(), 8u);
  int backdoored = 0;
  for (size_t row = 0; row < 40; ++row) {
    EXPECT_EQ(output.value(row, "label"), input.value(row, "label"));
    if (output.value(row, "is_backdoor") == "1") {
      ++backdoored;
      EXPECT_NE(output[row].caption.find("blue"), std::string::npos);
      EXPECT_TRUE(fs::is_regular_file(output[row].image_path));
      continue;
    }
    EXPECT_EQ(output.value(row, "is_backdoor"), "0");
    EXPECT_EQ(output[row].caption, input[row].caption);
    EXPECT_EQ(output.value(row, "image"), "../data/" + input.value(row, "image"));  // relative to DIR
    EXPECT_EQ(slurp(output[row].image_path), slurp(input[row].image_path));
  }
  EXPECT_EQ(backdoored, 8);
}

TEST_F(PoisonCli, EveryAttackRuns) {
  ASSERT_EQ(poison("blended", "--attack blended --target blue --rate 0.25 --fresh-noise").exit_code, 0);
  EXPECT_TRUE(AttackConfig::load(dir_.file("blended/attack.json")).fresh_noise);
  CommandResult wanet = poison("wanet", "--attack wanet --target blue --num 5 --wanet-k 3 --wanet-s 1.5");
  ASSERT_EQ(wanet.exit_code, 0) << wanet.output;
  EXPECT_TRUE(fs::is_regular_file(dir_.path() / "wanet" / "wanet_field.safetensors"));
  EXPECT_EQ(AttackConfig::load(dir_.file("wanet/attack.json")).wanet_grid.size(), 18u);
  CommandResult consistent = poison("lc",
                                    "--attack label-consistent --target blue --num 4 --patch-size 3 "
                                    "--patch-location four-corners");
  ASSERT_EQ(consistent.exit_code, 0) << consistent.output;
  for (int64_t row : AttackConfig::load(dir_.file("lc/attack.json")).poisoned_rows) EXPECT_EQ(row % 4, 2);
}

TEST_F(PoisonCli, ErrorsAreClear) {
  CommandResult unknown = poison("x", "--attack sig --target blue --num 1");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("unknown attack 'sig'"), std::string::npos) << unknown.output;
  CommandResult nobody = poison("x", "--attack label-consistent --target purple --num 1");
  EXPECT_NE(nobody.exit_code, 0);
  EXPECT_NE(nobody.output.find("no caption"), std::string::npos) << nobody.output;
  CommandResult too_many = poison("x", "--attack label-consistent --target blue --num 11");
  EXPECT_NE(too_many.exit_code, 0);
  EXPECT_NE(too_many.output.find("only 10 captions"), std::string::npos) << too_many.output;
  CommandResult neither = poison("x", "--attack badnet --target blue");
  EXPECT_NE(neither.exit_code, 0);
  EXPECT_NE(neither.output.find("--num"), std::string::npos) << neither.output;
  EXPECT_NE(poison("x", "--attack badnet --target blue --num 1 --rate 0.5").exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_.path() / "x" / "train.csv"));
}

// The ASR of the triggered test images, counted here one by one: trigger, preprocess, encode, zero-shot argmax.
double independent_asr(const std::string& model_path, const std::string& attack_json, const fs::path& data,
                       int64_t target, int64_t& counted) {
  auto model = clip::load_clip(model_path).model;
  model->eval();
  NoGradGuard no_grad;
  auto names = clip::ClassNames::from_json((data / "classes.json").string());
  auto test = clip::LabelledDataset::from_csv((data / "test.csv").string());
  AttackConfig config = AttackConfig::load(attack_json);
  const Trigger trigger(config);
  Tensor weights = clip::zero_shot_weights(*model, clip::Tokenizer(), names);  // [C, E]
  const int size = static_cast<int>(model->config().image_resolution);
  std::vector<float> pixels;
  for (size_t row = 0; row < test.size(); ++row) {
    if (test[row].label == target) continue;
    io::Image image = io::decode_image(test[row].image_path);
    trigger.apply(image, evaluation_image_key(static_cast<int64_t>(row)));
    std::vector<float> one(3 * size * size);
    io::preprocess(image, size, clip::kClipNormalization, one.data());
    pixels.insert(pixels.end(), one.begin(), one.end());
  }
  counted = static_cast<int64_t>(pixels.size() / (3 * size * size));
  Tensor features = model->encode_image(Variable(Tensor::from_vector<float>({counted, 3, size, size}, pixels))).value();
  const int64_t embed = features.size(1), classes = weights.size(0);
  int64_t hits = 0;
  for (int64_t i = 0; i < counted; ++i) {
    int64_t best = 0;
    double best_score = -1e300;
    for (int64_t c = 0; c < classes; ++c) {
      double dot = 0;  // the feature's norm does not change the argmax
      for (int64_t j = 0; j < embed; ++j)
        dot += double(features.data<float>()[i * embed + j]) * weights.data<float>()[c * embed + j];
      if (dot > best_score) best_score = dot, best = c;
    }
    hits += best == target;
  }
  return static_cast<double>(hits) / counted;
}

TEST_F(PoisonCli, EvalReportsTheAttackSuccessRate) {
  ASSERT_EQ(poison("poisoned", "--attack badnet --target white --num 12 --patch-size 20 --seed 1").exit_code, 0);
  const std::string run_dir = dir_.file("run");
  CommandResult train = run_clipgrad("train --data " + dir_.file("poisoned/train.csv") + " --out " + run_dir +
                                     " --epochs 2 --model vit-tiny-28 --batch-size 8 --lr 1e-3 --warmup 3 --seed 7 "
                                     "--workers 2 >/dev/null");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string model = run_dir + "/model.safetensors", result = dir_.file("eval.json");
  const std::string eval_flags = "eval --model " + model + " --labels " + dir_.file("data/test.csv") + " --classes " +
                                 dir_.file("data/classes.json");
  CommandResult eval =
      run_clipgrad(eval_flags + " --attack-config " + dir_.file("poisoned/attack.json") + " --json " + result);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("attack success rate"), std::string::npos) << eval.output;
  nlohmann::json json = nlohmann::json::parse(std::ifstream(result));
  EXPECT_EQ(json.at("n"), 40);      // the clean accuracy is still over every image
  EXPECT_EQ(json.at("asr_n"), 30);  // the 10 white images are not counted
  int64_t counted = 0;
  double expected = independent_asr(model, dir_.file("poisoned/attack.json"), dir_.path() / "data", 3, counted);
  EXPECT_EQ(counted, 30);
  EXPECT_NEAR(json.at("asr").get<double>(), expected, 1e-12) << eval.output;
  RecordProperty("asr", std::to_string(expected));
  // The 20x20 patch sends some images to "white" (measured: 10 of 30), so the comparison above is not 0 == 0.
  EXPECT_GT(expected, 0.0);

  // A target the classes do not name fails, naming it.
  ASSERT_EQ(poison("purple", "--attack badnet --target purple --num 2").exit_code, 0);
  CommandResult unknown = run_clipgrad(eval_flags + " --attack-config " + dir_.file("purple/attack.json"));
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("'purple'"), std::string::npos) << unknown.output;
}

// The members of the shards in `dir`, by name.
std::map<std::string, std::string> shard_members(const fs::path& dir) {
  std::map<std::string, std::string> members;
  for (const std::string& shard : clip::expand_shard_spec(dir.string())) {
    std::ifstream file(shard, std::ios::binary);
    io::TarReader tar(file, shard);
    for (io::TarEntry entry; tar.next(entry);) members[entry.name] = entry.data;
  }
  return members;
}

TEST_F(PoisonCli, ShardsArePoisonedAsTheirCsvIsAndTrainAModelWhoseAsrIsMeasured) {
  ASSERT_EQ(clip::write_shards(dir_.file("data/train.csv"), dir_.file("shards"), 16), 3);
  const std::string flags = "--attack badnet --target white --num 12 --patch-size 20 --seed 1";
  CommandResult from_shards =
      run_clipgrad("poison --data " + dir_.file("shards") + " --out " + dir_.file("poisoned") + " " + flags);
  ASSERT_EQ(from_shards.exit_code, 0) << from_shards.output;
  EXPECT_NE(from_shards.output.find("12 of 40 rows poisoned"), std::string::npos) << from_shards.output;
  EXPECT_NE(from_shards.output.find("3 shards"), std::string::npos) << from_shards.output;
  ASSERT_EQ(poison("csv", flags).exit_code, 0);

  // A sample is a row: the same rows, captions and triggered PNGs as poisoning the CSV.
  const AttackConfig config = AttackConfig::load(dir_.file("poisoned/attack.json"));
  EXPECT_EQ(config.poisoned_rows, AttackConfig::load(dir_.file("csv/attack.json")).poisoned_rows);
  ASSERT_EQ(config.poisoned_keys.size(), 12u);
  auto csv = clip::ImageCaptionDataset::from_csv(dir_.file("csv/train.csv"));
  const std::map<std::string, std::string> input = shard_members(dir_.path() / "shards"),
                                           output = shard_members(dir_.path() / "poisoned");
  ASSERT_EQ(output.size(), input.size());
  int changed = 0;
  for (const auto& [name, data] : input) {
    ASSERT_TRUE(output.count(name)) << name;
    changed += output.at(name) != data;
  }
  EXPECT_EQ(changed, 12 * 3);  // each poisoned sample's png, txt and json; nothing else
  for (size_t i = 0; i < 12; ++i) {
    const int64_t row = config.poisoned_rows[i];
    const std::string key = config.poisoned_keys[i].second;
    EXPECT_EQ(output.at(key + ".png"), slurp(csv[row].image_path)) << key;
    EXPECT_EQ(output.at(key + ".txt"), csv[row].caption) << key;
  }

  const std::string run_dir = dir_.file("run");
  CommandResult train = run_clipgrad("train --data " + dir_.file("poisoned") + " --out " + run_dir +
                                     " --epochs 2 --model vit-tiny-28 --batch-size 8 --lr 1e-3 --warmup 3 --seed 7 "
                                     "--workers 2 >/dev/null");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const std::string model = run_dir + "/model.safetensors", result = dir_.file("eval.json");
  CommandResult eval = run_clipgrad("eval --model " + model + " --labels " + dir_.file("data/test.csv") +
                                    " --classes " + dir_.file("data/classes.json") + " --attack-config " +
                                    dir_.file("poisoned/attack.json") + " --json " + result);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  nlohmann::json json = nlohmann::json::parse(std::ifstream(result));
  EXPECT_EQ(json.at("asr_n"), 30);
  int64_t counted = 0;
  double expected = independent_asr(model, dir_.file("poisoned/attack.json"), dir_.path() / "data", 3, counted);
  EXPECT_NEAR(json.at("asr").get<double>(), expected, 1e-12) << eval.output;
}

}  // namespace
}  // namespace clipgrad::cleanclip
