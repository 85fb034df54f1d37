// Checkpoint I/O: round trips in both layouts, config inference from shapes,
// the HF name mapping, and the errors a bad checkpoint gives. The model itself
// is tested in tests/clip/model/; numerical parity with PyTorch in
// tests/clip/eval/parity_test.cpp.
#include "clip/checkpoint/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/safetensors.h"

namespace clipgrad::clip {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = CLIPGRAD_FIXTURES;
const std::string kVit = kFixtures + "/tiny_vit_model.safetensors";
const std::string kResNet = kFixtures + "/tiny_rn_model.safetensors";
const std::string kHf = kFixtures + "/hf_tiny";

std::string temp_path(const std::string& stem) {
  return (fs::path(::testing::TempDir()) / ("checkpoint_test." + std::to_string(::getpid()) + "." + stem)).string();
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void expect_same_state(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(same_tensor(value, b.at(name))) << name;
  }
}

std::map<std::string, Tensor> file_values(const std::string& path) {
  std::map<std::string, Tensor> values;
  for (const auto& [name, stored] : io::read_safetensors(path).tensors) values[name] = stored.value;
  return values;
}

// Rewrites the tensors of `source` (and its metadata unless stripped) after `edit`.
template <class Edit>
std::string edited_copy(const std::string& source, const std::string& stem, Edit edit, bool keep_metadata = true) {
  io::SafetensorsFile file = io::read_safetensors(source);
  edit(file.tensors);
  std::string path = temp_path(stem + ".safetensors");
  io::write_safetensors(path, file.tensors, keep_metadata ? file.metadata : std::map<std::string, std::string>{});
  return path;
}

// The message of the CheckpointError that load_clip(path) throws.
std::string load_error(const std::string& path) {
  try {
    load_clip(path);
  } catch (const CheckpointError& error) {
    return error.what();
  }
  ADD_FAILURE() << "load_clip('" << path << "') did not throw CheckpointError";
  return "";
}

TEST(ClipCheckpoint, OpenAIRoundTripIsExact) {
  for (const std::string& source : {kVit, kResNet}) {
    LoadedClip loaded = load_clip(source);
    EXPECT_EQ(loaded.layout, CheckpointLayout::OpenAI);
    expect_same_state(loaded.model->state_dict(), file_values(source));

    std::string saved = temp_path("roundtrip.safetensors");
    save_clip(*loaded.model, saved, CheckpointLayout::OpenAI);
    LoadedClip again = load_clip(saved);
    EXPECT_EQ(again.config, loaded.config);
    expect_same_state(again.model->state_dict(), loaded.model->state_dict());
    io::SafetensorsFile file = io::read_safetensors(saved);
    EXPECT_EQ(file.metadata.at("activation"), "quick_gelu");
    for (const auto& [name, stored] : file.tensors)
      if (name.find("num_batches_tracked") != std::string::npos) EXPECT_EQ(stored.stored_dtype, "I64") << name;
    fs::remove(saved);
  }
}

TEST(ClipCheckpoint, HuggingFaceRoundTripIsExact) {
  LoadedClip loaded = load_clip(kHf);
  EXPECT_EQ(loaded.layout, CheckpointLayout::HuggingFace);
  EXPECT_EQ(loaded.config.eos_token_id, 499);
  EXPECT_EQ(loaded.config.vision_heads, 2);
  EXPECT_EQ(loaded.config.transformer_heads, 2);

  std::string directory = temp_path("hf");
  save_clip(*loaded.model, directory, CheckpointLayout::HuggingFace);
  LoadedClip again = load_clip(directory);
  EXPECT_EQ(again.layout, CheckpointLayout::HuggingFace);
  EXPECT_EQ(again.config, loaded.config);
  expect_same_state(again.model->state_dict(), loaded.model->state_dict());
  // The written file holds exactly the original HF tensors (the split and
  // transposes are exact copies).
  auto original = file_values(kHf + "/model.safetensors");
  original.erase("text_model.embeddings.position_ids");
  original.erase("vision_model.embeddings.position_ids");
  expect_same_state(file_values(directory + "/model.safetensors"), original);
  fs::remove_all(directory);
}

TEST(ClipCheckpoint, LayoutMappingsAreInverse) {
  auto hf = file_values(kHf + "/model.safetensors");
  hf.erase("text_model.embeddings.position_ids");
  hf.erase("vision_model.embeddings.position_ids");
  auto openai = to_openai_layout(hf);
  EXPECT_TRUE(openai.count("transformer.resblocks.1.attn.in_proj_weight"));
  EXPECT_EQ(openai.at("visual.proj").shape(), (Shape{128, 32}));
  expect_same_state(to_hf_layout(openai), hf);
  EXPECT_THROW(to_hf_layout({{"visual.layer1.0.conv1.weight", Tensor::zeros({8, 8, 1, 1})}}), std::invalid_argument);
  EXPECT_THROW(to_openai_layout({{"text_model.encoder.layers.0.self_attn.q_proj.bias", Tensor::zeros({4})}}),
               std::invalid_argument);
}

TEST(ClipCheckpoint, InferredConfigMatchesMetadata) {
  for (const std::string& source : {kVit, kResNet}) {
    ClipConfig from_metadata = load_clip(source).config;
    std::string stripped = edited_copy(
        source, "stripped", [](auto&) {}, false);
    ClipConfig inferred = load_clip(stripped).config;
    // Head counts are not in the shapes: OpenAI's build_model takes width / 64
    // (the fixtures use 2 text heads of width 32, which it cannot recover).
    ClipConfig expected = from_metadata;
    expected.transformer_heads = expected.transformer_width / 64;
    EXPECT_EQ(inferred, expected) << inferred.to_json().dump() << "\n" << expected.to_json().dump();
    fs::remove(stripped);
  }
}

TEST(ClipCheckpoint, ConfigJsonRoundTrip) {
  for (const std::string& name : ClipConfig::names()) {
    ClipConfig config = ClipConfig::named(name);
    EXPECT_EQ(ClipConfig::from_json(nlohmann::json::parse(config.to_json().dump())), config) << name;
    if (!config.is_resnet()) EXPECT_EQ(config_from_hf_json(config_to_hf_json(config)), config) << name;
  }
  nlohmann::json resnet = ClipConfig::named("rn50").to_json();
  EXPECT_TRUE(resnet.at("vision_patch_size").is_null());
  EXPECT_TRUE(resnet.at("vision_layers").is_array());
  try {
    ClipConfig::named("vit-h-14");
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("vit-tiny-28"), std::string::npos) << error.what();
  }
}

// An eos_token_id outside the vocabulary (1e9 was accepted, and pooled every text at position 0).
TEST(ClipCheckpoint, ConfigValuesOutsideTheirRangeAreRefused) {
  nlohmann::json config = ClipConfig::named("vit-tiny-28").to_json();
  config["eos_token_id"] = 1000000000;
  try {
    ClipConfig::from_json(config);
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("eos_token_id 1000000000 is not a token of the vocabulary of 49408"),
              std::string::npos)
        << error.what();
  }
  config["eos_token_id"] = 49407;
  EXPECT_EQ(ClipConfig::from_json(config).eos_token_id, 49407);
  config["vision_layers"] = std::vector<int>(1000, 1);
  try {
    ClipConfig::from_json(config);
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& error) {
    EXPECT_LT(std::string(error.what()).size(), 250u) << "quotes the whole value: " << error.what();
  }
  // clip_config metadata nested 100,000 deep: refused while parsing (dump() once overflowed the stack).
  std::string deep = edited_copy(kVit, "deep", [](auto&) {});
  {
    io::SafetensorsFile file = io::read_safetensors(deep);
    file.metadata["clip_config"] = std::string(100000, '[') + std::string(100000, ']');
    io::write_safetensors(deep, file.tensors, file.metadata);
  }
  EXPECT_NE(load_error(deep).find("metadata clip_config nests arrays and objects deeper than 64"), std::string::npos);
  fs::remove(deep);
}

TEST(ClipCheckpointErrors, NameTheFileAndTheTensor) {
  std::string missing = edited_copy(kVit, "missing", [](auto& t) { t.erase("visual.ln_post.bias"); });
  std::string message = load_error(missing);
  EXPECT_EQ(message.rfind("bad checkpoint '" + missing + "': ", 0), 0u) << message;
  EXPECT_NE(message.find("missing tensor 'visual.ln_post.bias'"), std::string::npos) << message;

  std::string shaped = edited_copy(kVit, "shaped", [](auto& t) { t["visual.proj"].value = Tensor::zeros({64, 32}); });
  message = load_error(shaped);
  EXPECT_NE(message.find("'visual.proj' has shape [64,32], the model expects [128,32]"), std::string::npos) << message;

  std::string extra = edited_copy(kVit, "extra", [](auto& t) { t["visual.extra"].value = Tensor::zeros({2}); });
  message = load_error(extra);
  EXPECT_NE(message.find("unexpected tensor 'visual.extra'"), std::string::npos) << message;

  std::string json = edited_copy(kVit, "json", [](auto&) {});
  {
    io::SafetensorsFile file = io::read_safetensors(json);
    file.metadata["clip_config"] = "{\"embed_dim\": 32,";
    io::write_safetensors(json, file.tensors, file.metadata);
  }
  message = load_error(json);
  EXPECT_NE(message.find("clip_config is not valid JSON"), std::string::npos) << message;

  // A BatchNorm counter missing (older PyTorch) is tolerated, as PyTorch does.
  std::string old = edited_copy(kResNet, "old", [](auto& t) { t.erase("visual.bn1.num_batches_tracked"); });
  EXPECT_EQ(load_clip(old).model->state_dict().at("visual.bn1.num_batches_tracked").item(), 0);

  for (const std::string& path : {missing, shaped, extra, json, old}) fs::remove(path);
  EXPECT_NE(load_error("/nonexistent/model.safetensors").find("no such file"), std::string::npos);
}

TEST(ClipCheckpointErrors, HuggingFaceDirectory) {
  std::string directory = temp_path("hf_bad");
  fs::create_directories(directory);
  EXPECT_NE(load_error(directory).find("no config.json"), std::string::npos);

  fs::copy_file(kHf + "/config.json", directory + "/config.json");
  io::SafetensorsFile file = io::read_safetensors(kHf + "/model.safetensors");
  file.tensors.erase("text_model.encoder.layers.1.self_attn.k_proj.weight");
  io::write_safetensors(directory + "/model.safetensors", file.tensors, file.metadata);
  std::string message = load_error(directory);
  EXPECT_EQ(message.rfind("bad checkpoint '" + directory + "': ", 0), 0u) << message;
  EXPECT_NE(message.find("missing tensor 'text_model.encoder.layers.1.self_attn.k_proj.weight'"), std::string::npos)
      << message;

  std::ofstream(directory + "/config.json") << "{\"text_config\": {\"intermediate_size\": 100}}";
  EXPECT_NE(load_error(directory).find("intermediate_size"), std::string::npos);
  std::ofstream(directory + "/config.json") << "{not json";
  EXPECT_NE(load_error(directory).find("config.json' is not valid JSON"), std::string::npos);

  std::string hf_file = directory + "/model.safetensors";
  EXPECT_NE(load_error(hf_file).find("pass the directory"), std::string::npos);
  fs::remove_all(directory);

  ClipModel resnet(ClipConfig::named("rn-tiny"));
  EXPECT_THROW(save_clip(resnet, temp_path("hf_resnet"), CheckpointLayout::HuggingFace), std::invalid_argument);
  EXPECT_FALSE(fs::exists(temp_path("hf_resnet")));
}

}  // namespace
}  // namespace clipgrad::clip
