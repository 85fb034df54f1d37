// `clipgrad dump`, the binary: its dump of a fixture passes the parity rule,
// and bad checkpoints and inputs end in one line on stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/safetensors.h"
#include "parity_check.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

namespace clipgrad::cli {
namespace {

namespace fs = std::filesystem;

using testing::expect_matches;
using testing::kFixtures;
using testing::TensorMap;

// ---- the binary ----

struct CommandResult {
  int exit_code = -1;
  std::string stderr_text;
};

std::string temp_path(const std::string& stem) {
  return (fs::path(::testing::TempDir()) / ("parity_test." + std::to_string(::getpid()) + "." + stem)).string();
}

CommandResult run_clipgrad(const std::string& args) {
  std::string err = temp_path("stderr");
  std::string command = std::string("'") + CLIPGRAD_BINARY + "' " + args + " > /dev/null 2> '" + err + "'";
  int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  result.stderr_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(err);
  return result;
}

TEST(DumpCommand, WritesTheDumpOfAFixture) {
  std::string out = temp_path("dump.safetensors");
  std::string expect = kFixtures + "/tiny_vit_expect.safetensors";
  CommandResult result = run_clipgrad("dump --model '" + kFixtures + "/tiny_vit_model.safetensors' --inputs '" +
                                      expect + "' --out '" + out + "'");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(result.stderr_text, "");
  TensorMap got;
  for (const auto& [name, stored] : io::read_safetensors(out).tensors) {
    EXPECT_EQ(stored.stored_dtype, "F32") << name;
    got[name] = stored.value;
  }
  expect_matches(got, expect);
  fs::remove(out);
}

// dump --device cuda (a GPU, or the CUDA emulator): every model fixture's
// dump on CUDA passes the same parity rule against the same references.
TEST(DumpCommand, OnCudaTheFixturesPassTheSameRule) {
#ifndef CLIPGRAD_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  for (const std::string& model : {"tiny_vit", "tiny_rn"}) {
    SCOPED_TRACE(model);
    const std::string out = temp_path(model + "_cuda.safetensors"),
                      expect = kFixtures + "/" + model + "_expect.safetensors";
    CommandResult result = run_clipgrad("dump --device cuda --model '" + kFixtures + "/" + model +
                                        "_model.safetensors' --inputs '" + expect + "' --out '" + out + "'");
    ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
    TensorMap got;
    for (const auto& [name, stored] : io::read_safetensors(out).tensors) got[name] = stored.value;
    expect_matches(got, expect);
    fs::remove(out);
  }
#endif
}

// Runs `dump --model MODEL --inputs INPUTS` and requires failure, no output
// file, and exactly one line on stderr that contains `problem`.
void expect_one_line_error(const std::string& model, const std::string& inputs, const std::string& problem) {
  std::string out = temp_path("never.safetensors");
  CommandResult result = run_clipgrad("dump --model '" + model + "' --inputs '" + inputs + "' --out '" + out + "'");
  EXPECT_NE(result.exit_code, 0);
  const std::string& text = result.stderr_text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(text.back(), '\n') << text;
  EXPECT_NE(text.find(problem), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out));
}

TEST(DumpCommand, BadCheckpointsEndWithOneLine) {
  const std::string source = kFixtures + "/tiny_vit_model.safetensors";
  const std::string inputs = kFixtures + "/tiny_vit_expect.safetensors";
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  std::string truncated = temp_path("truncated.safetensors");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_one_line_error(truncated, inputs, "bad checkpoint '" + truncated + "'");

  auto edited = [&](const std::string& stem, auto edit) {
    io::SafetensorsFile file = io::read_safetensors(source);
    edit(file.tensors);
    std::string path = temp_path(stem + ".safetensors");
    io::write_safetensors(path, file.tensors, file.metadata);
    return path;
  };
  std::string missing = edited("missing", [](auto& t) { t.erase("transformer.resblocks.1.mlp.c_fc.bias"); });
  expect_one_line_error(missing, inputs,
                        "bad checkpoint '" + missing + "': missing tensor 'transformer.resblocks.1.mlp.c_fc.bias'");
  std::string shaped = edited("shaped", [](auto& t) { t["ln_final.weight"].value = Tensor::zeros({65}); });
  expect_one_line_error(
      shaped, inputs,
      "bad checkpoint '" + shaped + "': tensor 'ln_final.weight' has shape [65], the model expects [64]");
  std::string extra = edited("extra", [](auto& t) { t["visual.attnpool.k_proj.bias"].value = Tensor::zeros({4}); });
  expect_one_line_error(extra, inputs,
                        "bad checkpoint '" + extra + "': unexpected tensor 'visual.attnpool.k_proj.bias'");
  for (const std::string& path : {truncated, missing, shaped, extra}) fs::remove(path);
}

TEST(DumpCommand, BadInputsEndWithOneLine) {
  const std::string model = kFixtures + "/tiny_vit_model.safetensors";
  std::string inputs = temp_path("inputs.safetensors");
  io::SafetensorsFile expect = io::read_safetensors(kFixtures + "/tiny_vit_expect.safetensors");
  io::write_safetensors(inputs, std::map<std::string, Tensor>{{"input.pixels", expect.at("input.pixels")}});
  expect_one_line_error(model, inputs, "bad inputs '" + inputs + "': missing tensor 'input.text'");

  io::write_safetensors(inputs, std::map<std::string, Tensor>{{"input.pixels", expect.at("input.pixels")},
                                                              {"input.text", expect.at("input.text").to(DType::F32)}});
  expect_one_line_error(model, inputs, "tensor 'input.text' is F32, expected i32");

  io::write_safetensors(inputs, std::map<std::string, Tensor>{{"input.pixels", Tensor::zeros({4, 3, 16, 16})},
                                                              {"input.text", expect.at("input.text")}});
  expect_one_line_error(model, inputs, "tensor 'input.pixels' has shape [4,3,16,16], the model expects [N,3,32,32]");

  expect_one_line_error(model, "/nonexistent/inputs.safetensors", "bad inputs '/nonexistent/inputs.safetensors'");

  std::string out = temp_path("never.safetensors");
  CommandResult result = run_clipgrad("dump --inputs '" + inputs + "' --out '" + out + "'");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.stderr_text.find("missing tensor 'input.image'"), std::string::npos) << result.stderr_text;
  fs::remove(inputs);
}

}  // namespace
}  // namespace clipgrad::cli
