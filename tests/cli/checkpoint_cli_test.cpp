// clipgrad info / convert, --config and --verbose on PyTorch checkpoints, and
// the one-line errors for corrupt and malicious files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cli/run_clipgrad.h"
#include "io/safetensors.h"
#include "parity_check.h"
#include "test_temp_dir.h"

namespace clipgrad {
namespace {

using testing::kFixtures;
using testing::run_clipgrad;

const std::string kTorch = kFixtures + "/torch/";

std::string config_json(const std::string& model) {
  return io::read_safetensors(kFixtures + "/" + model + "_model.safetensors").metadata.at("clip_config");
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(CheckpointCli, InfoDescribesEachFormat) {
  auto result = run_clipgrad("info '" + kTorch + "torchscript_vit.pt'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "format:     TorchScript archive")) << result.output;
  EXPECT_TRUE(contains(result.output, "inferred from the tensor shapes")) << result.output;
  EXPECT_TRUE(contains(result.output, "parameters: 563201 in 62 tensors")) << result.output;
  result = run_clipgrad("info '" + kTorch + "cleanclip_rn.pt' --config '" + config_json("tiny_rn") + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "given (--config)")) << result.output;
  EXPECT_TRUE(contains(result.output, "ignored 'optimizer'")) << result.output;
  EXPECT_TRUE(contains(result.output, "dtypes:     F32 x 134, I64 x 19")) << result.output;
  result = run_clipgrad("info '" + kTorch + "fp16_vit.pt'");
  EXPECT_TRUE(contains(result.output, "dtypes:     F16 x 62")) << result.output;
}

// .pt -> OpenAI safetensors (config in the metadata) -> dump: PyTorch's results.
TEST(CheckpointCli, ConvertedCheckpointsKeepParity) {
  testing::TempDir temp("checkpoint_cli");
  const std::string converted = temp.file("model.safetensors"), config = temp.file("config.json");
  std::ofstream(config) << config_json("tiny_rn");
  auto result = run_clipgrad("convert '" + kTorch + "legacy_rn.pt' '" + converted + "' --config '" + config + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "469821 parameters")) << result.output;
  const std::string expect = kFixtures + "/tiny_rn_expect.safetensors", dump = temp.file("dump.safetensors");
  result = run_clipgrad("dump --model '" + converted + "' --inputs '" + expect + "' --out '" + dump + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_FALSE(contains(result.output, "inferred")) << "the converted file carries its config: " << result.output;
  std::map<std::string, Tensor> got;
  for (const auto& [name, stored] : io::read_safetensors(dump).tensors) got[name] = stored.value;
  testing::expect_matches(got, expect);
}

TEST(CheckpointCli, DumpTakesAPtFileWithConfigAndVerbose) {
  testing::TempDir temp("checkpoint_cli");
  const std::string expect = kFixtures + "/tiny_vit_expect.safetensors", dump = temp.file("dump.safetensors");
  auto result = run_clipgrad("dump --model '" + kTorch + "openclip_vit.pt' --config '" + config_json("tiny_vit") +
                             "' --verbose --inputs '" + expect + "' --out '" + dump + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "ignored 'scaler'")) << result.output;
  std::map<std::string, Tensor> got;
  for (const auto& [name, stored] : io::read_safetensors(dump).tensors) got[name] = stored.value;
  testing::expect_matches(got, expect);
  // Without --config the head count is OpenAI's rule's, and the inference is printed.
  result = run_clipgrad("dump --model '" + kTorch + "openclip_vit.pt' --inputs '" + expect + "' --out '" + dump + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "model config inferred from the tensor shapes")) << result.output;
  EXPECT_TRUE(contains(result.output, "\"transformer_heads\":1")) << result.output;
}

TEST(CheckpointCli, ConvertsToHuggingFaceInHalfPrecision) {
  testing::TempDir temp("checkpoint_cli");
  const std::string out = temp.file("hf");
  auto result = run_clipgrad("convert '" + kTorch + "fp16_vit.pt' '" + out + "' --layout hf --dtype f16 --config '" +
                             config_json("tiny_vit") + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_TRUE(std::filesystem::exists(out + "/config.json"));
  for (const auto& [name, stored] : io::read_safetensors(out + "/model.safetensors").tensors)
    EXPECT_EQ(stored.stored_dtype, "F16") << name;
  result = run_clipgrad("info '" + out + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "layout:     hf")) << result.output;
  EXPECT_TRUE(contains(result.output, "(config.json)")) << result.output;
}

// One line on stderr, naming the file (and the global for a malicious pickle); nothing written.
void expect_one_line_error(const std::string& args, const std::vector<std::string>& parts) {
  auto result = run_clipgrad(args);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_EQ(result.output.rfind("clipgrad: bad checkpoint '", 0), 0u) << result.output;
  for (const std::string& part : parts) EXPECT_TRUE(contains(result.output, part)) << result.output;
}

TEST(CheckpointCli, CorruptAndMaliciousFilesGiveOneLine) {
  testing::TempDir temp("checkpoint_cli");
  std::ifstream in(kTorch + "openclip_vit.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string truncated = temp.file("truncated.pt"), corrupt = temp.file("corrupt.pt");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x55;  // inside a storage: its CRC-32 fails
  std::ofstream(corrupt, std::ios::binary) << flipped;
  const std::string out = temp.file("out.safetensors");
  expect_one_line_error("info '" + truncated + "'", {truncated});
  expect_one_line_error("convert '" + corrupt + "' '" + out + "'", {corrupt, "CRC-32"});
  expect_one_line_error("info '" + kTorch + "evil_reduce_zip.pt'", {"evil_reduce_zip.pt", "'posix.system'"});
  expect_one_line_error("info '" + kTorch + "evil_reduce_legacy.pt'", {"evil_reduce_legacy.pt", "'posix.system'"});
  expect_one_line_error("convert '" + kTorch + "evil_global.pt' '" + out + "'", {"'collections.Counter'"});
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists("/tmp/clipgrad_pwned_zip"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/clipgrad_pwned_legacy"));
}

}  // namespace
}  // namespace clipgrad
