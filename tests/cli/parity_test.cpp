// PyTorch parity: the `clipgrad dump` code path against float64 PyTorch
// references (OpenAI's clip/model.py, transformers' CLIPModel, the CleanCLIP
// objective), tensor by tensor: features, logits, loss, every parameter
// gradient and BatchNorm running statistics. Also the real binary, and the
// one-line errors it gives for bad checkpoints and inputs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "cli/dump.h"
#include "clip/safetensors.h"

namespace clipgrad::cli {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = CLIPGRAD_FIXTURES;

double norm(const Tensor& t) {
  Tensor values = t.to(DType::F64);
  double total = 0;
  for (int64_t i = 0; i < values.numel(); ++i) total += values.data<double>()[i] * values.data<double>()[i];
  return std::sqrt(total);
}

double distance(const Tensor& a, const Tensor& b) {
  Tensor x = a.to(DType::F64), y = b.to(DType::F64);
  double total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) total += std::pow(x.data<double>()[i] - y.data<double>()[i], 2);
  return std::sqrt(total);
}

// Requires ||got - ref|| / ||ref|| <= 1e-4 for every tensor of the expect
// file but its inputs.
//
// Some gradients are zero in exact arithmetic: softmax ignores a constant
// added to every logit of a query, and the key bias adds exactly that
// (q . b_k), so the gradient of the key bias (k_proj.bias, the k third of
// in_proj_bias) is zero and both sides hold only rounding noise (~1e-16 in
// float64, ~1e-8 in float32). A relative error of noise is meaningless, so
// where the reference's norm is below 1e-3 x the largest gradient norm of the
// model, the absolute error is held to that floor instead.
void expect_matches(const TensorMap& got, const std::string& expect_path) {
  SafetensorsFile expect = read_safetensors(expect_path);
  double largest_grad = 0;
  for (const auto& [name, stored] : expect.tensors)
    if (name.rfind("grad.", 0) == 0) largest_grad = std::max(largest_grad, norm(stored.value));
  const double floor = 1e-3 * largest_grad;
  int compared = 0;
  for (const auto& [name, stored] : expect.tensors) {
    if (name.rfind("input.", 0) == 0) continue;
    auto found = got.find(name);
    if (found == got.end()) {
      ADD_FAILURE() << expect_path << ": dump lacks '" << name << "'";
      continue;
    }
    const Tensor& reference = stored.value;
    ASSERT_EQ(found->second.shape(), reference.shape()) << name;
    double error = distance(found->second, reference), scale = norm(reference);
    if (name.rfind("grad.", 0) == 0 && scale < floor) {
      EXPECT_LE(error, floor) << name << " (a zero gradient: held to the absolute floor)";
    } else {
      EXPECT_LE(error, 1e-4 * scale) << name << ": relative error " << error / scale;
    }
    ++compared;
  }
  EXPECT_GT(compared, 0) << expect_path;
}

TEST(Parity, TinyViT) {
  expect_matches(dump_model(kFixtures + "/tiny_vit_model.safetensors", kFixtures + "/tiny_vit_expect.safetensors"),
                 kFixtures + "/tiny_vit_expect.safetensors");
}

TEST(Parity, TinyModifiedResNet) {
  expect_matches(dump_model(kFixtures + "/tiny_rn_model.safetensors", kFixtures + "/tiny_rn_expect.safetensors"),
                 kFixtures + "/tiny_rn_expect.safetensors");
}

TEST(Parity, HuggingFaceCLIPModel) {
  TensorMap got = dump_model(kFixtures + "/hf_tiny", kFixtures + "/hf_tiny_expect.safetensors");
  EXPECT_TRUE(got.count("grad.text_model.encoder.layers.0.self_attn.k_proj.weight"));
  expect_matches(got, kFixtures + "/hf_tiny_expect.safetensors");
}

TEST(Parity, CleanClipObjective) {
  expect_matches(dump_objective(kFixtures + "/cleanclip_loss.safetensors"), kFixtures + "/cleanclip_loss.safetensors");
}

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
  for (const auto& [name, stored] : read_safetensors(out).tensors) {
    EXPECT_EQ(stored.stored_dtype, "F32") << name;
    got[name] = stored.value;
  }
  expect_matches(got, expect);
  fs::remove(out);
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
    SafetensorsFile file = read_safetensors(source);
    edit(file.tensors);
    std::string path = temp_path(stem + ".safetensors");
    write_safetensors(path, file.tensors, file.metadata);
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
  SafetensorsFile expect = read_safetensors(kFixtures + "/tiny_vit_expect.safetensors");
  write_safetensors(inputs, std::map<std::string, Tensor>{{"input.pixels", expect.at("input.pixels")}});
  expect_one_line_error(model, inputs, "bad inputs '" + inputs + "': missing tensor 'input.text'");

  write_safetensors(inputs, std::map<std::string, Tensor>{{"input.pixels", expect.at("input.pixels")},
                                                          {"input.text", expect.at("input.text").to(DType::F32)}});
  expect_one_line_error(model, inputs, "tensor 'input.text' is F32, expected i32");

  write_safetensors(inputs, std::map<std::string, Tensor>{{"input.pixels", Tensor::zeros({4, 3, 16, 16})},
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
