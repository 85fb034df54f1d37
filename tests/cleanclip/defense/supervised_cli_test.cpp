// `clipgrad finetune-supervised` end to end, and `clipgrad eval` (accuracy and
// ASR) on its checkpoint through the head, against the same numbers computed
// here in process.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cleanclip/attack/asr.h"
#include "cleanclip/attack/attack_config.h"
#include "cleanclip/defense/classifier_head.h"
#include "cleanclip/defense/tiny_clip.h"
#include "colour_squares.h"
#include "cli/run_clipgrad.h"
#include "clip/checkpoint/checkpoint.h"
#include "io/safetensors.h"
#include "test_temp_dir.h"

namespace clipgrad::cleanclip {
namespace {

namespace fs = std::filesystem;
using clipgrad::testing::CommandResult;
using clipgrad::testing::run_clipgrad;

// 40 images, batch 8, 3 epochs: 15 steps, seconds on two cores.
const std::string kFastFlags = " --epochs 3 --batch-size 8 --lr 1e-3 --warmup 2 --seed 5";

class SupervisedCli : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_colour_squares(dir_.path());
    clip::save_clip(*testing::tiny_clip(), dir_.file("init.safetensors"), clip::CheckpointLayout::OpenAI);
  }

  CommandResult finetune(const std::string& out, const std::string& flags = kFastFlags) {
    return run_clipgrad("finetune-supervised --model " + dir_.file("init.safetensors") + " --labels " +
                        dir_.file("test.csv") + " --classes " + dir_.file("classes.json") + " --out " + dir_.file(out) +
                        flags);
  }
  CommandResult eval(const std::string& model, const std::string& flags) {
    return run_clipgrad("eval --model " + model + " --labels " + dir_.file("test.csv") + " --classes " +
                        dir_.file("classes.json") + " " + flags);
  }
  nlohmann::json read_json(const std::string& name) { return nlohmann::json::parse(std::ifstream(dir_.file(name))); }

  clipgrad::testing::TempDir dir_{"supervised_cli"};
};

TEST_F(SupervisedCli, TrainsAndEvalClassifiesThroughTheHead) {
  CommandResult trained = finetune("run");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const std::string checkpoint = dir_.file("run/model.safetensors");
  EXPECT_NE(trained.output.find("model: " + checkpoint), std::string::npos) << trained.output;
  std::ifstream metrics(dir_.file("run/metrics.jsonl"));
  std::vector<double> losses;
  for (std::string line; std::getline(metrics, line);) {
    nlohmann::json entry = nlohmann::json::parse(line);
    for (const char* key : {"epoch", "step", "loss", "lr"}) EXPECT_TRUE(entry.contains(key)) << key << ": " << line;
    losses.push_back(entry.at("loss"));
  }
  ASSERT_EQ(losses.size(), 15u);
  EXPECT_LT(losses[12] + losses[13] + losses[14], losses[0] + losses[1] + losses[2]);

  // The attack: a badnet patch towards "blue".
  AttackConfig attack;
  attack.kind = AttackKind::kBadNet;
  attack.target = "blue";
  attack.seed = 3;
  attack.patch_size = 8;
  attack.save(dir_.file("attack.json"));
  CommandResult evaluated =
      eval(checkpoint, "--attack-config " + dir_.file("attack.json") + " --json " + dir_.file("eval.json"));
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  EXPECT_NE(evaluated.output.find("head top-1"), std::string::npos) << evaluated.output;
  nlohmann::json result = read_json("eval.json");
  EXPECT_EQ(result.at("classifier"), "head");
  EXPECT_EQ(result.at("n"), 40);

  // The same numbers in process, through the head of the saved checkpoint.
  SupervisedModel loaded = load_supervised_checkpoint(checkpoint);
  auto data = clip::LabelledDataset::from_csv(dir_.file("test.csv"));
  auto names = clip::ClassNames::from_json(dir_.file("classes.json"));
  clip::Accuracy accuracy = evaluate_classifier(*loaded.model, head_classifier(loaded.head), 4, data);
  EXPECT_EQ(result.at("top1").get<double>(), accuracy.top1);
  EXPECT_GE(accuracy.top1, 0.75);  // chance is 0.25
  AsrOptions options;
  options.classifier = head_classifier(loaded.head);
  AsrResult asr = attack_success_rate(*loaded.model, data, names, attack, options);
  EXPECT_EQ(result.at("asr").get<double>(), asr.asr);
  EXPECT_EQ(result.at("asr_n"), 30);  // the 10 blue images are not counted

  // A plain CLIP checkpoint still evaluates zero-shot.
  CommandResult zero_shot = eval(dir_.file("init.safetensors"), "--json " + dir_.file("zs.json"));
  ASSERT_EQ(zero_shot.exit_code, 0) << zero_shot.output;
  EXPECT_EQ(read_json("zs.json").at("classifier"), "zero-shot");
}

TEST_F(SupervisedCli, SameSeedSameCheckpoint) {
  ASSERT_EQ(finetune("a", kFastFlags + " --workers 2").exit_code, 0);
  ASSERT_EQ(finetune("b", kFastFlags + " --workers 0").exit_code, 0);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(slurp(dir_.file("a/metrics.jsonl")), slurp(dir_.file("b/metrics.jsonl")));
  // The files differ only in the recorded options (workers); the tensors are the same bits.
  io::SafetensorsFile a = io::read_safetensors(dir_.file("a/model.safetensors"));
  io::SafetensorsFile b = io::read_safetensors(dir_.file("b/model.safetensors"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, stored] : a.tensors) {
    const Tensor& other = b.at(name);
    ASSERT_EQ(stored.value.nbytes(), other.nbytes()) << name;
    EXPECT_EQ(std::memcmp(stored.value.raw_data(), other.raw_data(), other.nbytes()), 0) << name;
  }
}

TEST_F(SupervisedCli, ErrorsSayWhatIsWrong) {
  ASSERT_EQ(finetune("run", " --epochs 1 --batch-size 8").exit_code, 0);
  // A head trained for other classes is refused, naming both lists.
  std::ofstream(dir_.file("other.json")) << R"({"classes": ["cat", "dog", "bird", "fish"]})";
  CommandResult other = run_clipgrad("eval --model " + dir_.file("run/model.safetensors") + " --labels " +
                                     dir_.file("test.csv") + " --classes " + dir_.file("other.json"));
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.output.find("'red', 'green', 'blue', 'white'"), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("'cat'"), std::string::npos) << other.output;

  CommandResult bad_lr = finetune("x", " --lr=-1");
  EXPECT_NE(bad_lr.exit_code, 0);
  EXPECT_NE(bad_lr.output.find("--lr"), std::string::npos) << bad_lr.output;
  CommandResult no_labels = run_clipgrad("finetune-supervised --model " + dir_.file("init.safetensors") +
                                         " --classes " + dir_.file("classes.json") + " --out " + dir_.file("y"));
  EXPECT_NE(no_labels.exit_code, 0);
  EXPECT_NE(no_labels.output.find("--labels"), std::string::npos) << no_labels.output;
}

}  // namespace
}  // namespace clipgrad::cleanclip
