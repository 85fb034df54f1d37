// CLIP configs, model construction and checkpoint I/O: round trips in both
// layouts, config inference from shapes, the HF name mapping, named configs,
// and the errors a bad checkpoint gives. Numerical parity with PyTorch is in
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

int64_t parameter_count(const ClipModel& model) {
  int64_t total = 0;
  for (const auto& [name, parameter] : model.named_parameters()) total += parameter.numel();
  return total;
}

TEST(ClipModelTest, NamedConfigsHaveOpenAIParameterCounts) {
  ClipModel vit_b_32(ClipConfig::named("vit-b-32"));
  EXPECT_EQ(parameter_count(vit_b_32), 151277313);
  ClipModel rn50(ClipConfig::named("rn50"));
  EXPECT_EQ(parameter_count(rn50), 102007137);
  int64_t buffers = 0;
  for (const auto& [name, buffer] : rn50.named_buffers()) buffers += buffer->numel();
  // 55 BatchNorms: running mean and variance per channel plus one counter each.
  EXPECT_EQ(buffers, 53303);
  EXPECT_EQ(rn50.state_dict().count("visual.layer3.5.downsample.0.weight"), 0u);
  EXPECT_EQ(rn50.state_dict().count("visual.layer3.0.downsample.1.running_var"), 1u);
}

TEST(ClipModelTest, TinyConfigsInitialiseAndRun) {
  for (const std::string& name : {"vit-tiny-28", "vit-tiny-64-p8", "rn-tiny", "rn-tiny-64"}) {
    ClipConfig config = ClipConfig::named(name);
    ClipModel model(config);
    Generator generator(7);
    model.init_openai(generator);
    EXPECT_NEAR(model.logit_scale.value().item(), std::log(1 / 0.07), 1e-6);
    const Tensor& tokens_weight = model.token_embedding->weight.value();
    double square = 0;
    for (int64_t i = 0; i < tokens_weight.numel(); ++i) square += std::pow(tokens_weight.data<float>()[i], 2);
    EXPECT_NEAR(std::sqrt(square / tokens_weight.numel()), 0.02, 0.001) << name;
    if (config.is_resnet()) {
      auto state = model.state_dict();
      EXPECT_EQ(state.at("visual.layer1.0.bn3.weight").to_vector<float>(), std::vector<float>(64, 0.0f));
    }

    int64_t batch = 2, resolution = config.image_resolution;
    Tensor pixels = Tensor::empty({batch, 3, resolution, resolution});
    fill_normal(pixels, 0, 1, generator);
    std::vector<int32_t> ids(batch * config.context_length, 0);
    for (int64_t n = 0; n < batch; ++n) {
      ids[n * config.context_length] = 49406;
      ids[n * config.context_length + 1 + n] = 320;
      ids[n * config.context_length + 2 + n] = 49407;
    }
    Tensor tokens = Tensor::from_vector<int32_t>({batch, config.context_length}, ids);
    EXPECT_EQ(model.eot_positions(tokens).to_vector<int32_t>(), (std::vector<int32_t>{2, 3}));
    EXPECT_EQ(model.encode_image(Variable(pixels)).shape(), (Shape{batch, config.embed_dim})) << name;
    EXPECT_EQ(model.encode_text(tokens).shape(), (Shape{batch, config.embed_dim})) << name;
    EXPECT_THROW(model.encode_image(Variable(Tensor::zeros({1, 3, resolution + 1, resolution}))),
                 std::invalid_argument);

    // Causal attention: tokens after a text's EOT cannot reach its feature.
    // encode_text skips the positions after the batch's last EOT, so the
    // check pairs each short text with a text that fills the whole context:
    // that batch is computed at full length, the short text alone is cut.
    const int64_t context = config.context_length;
    std::vector<int32_t> full_ids(2 * context, 320);
    full_ids[0] = full_ids[context] = 49406;
    full_ids[3] = 49407;                // row 0: EOT at 3, then 320s (padding in effect)
    full_ids[2 * context - 1] = 49407;  // row 1: EOT at the last position
    std::vector<float> full =
        model.encode_text(Tensor::from_vector<int32_t>({2, context}, full_ids)).value().to_vector<float>();
    std::vector<int32_t> short_ids(full_ids.begin(), full_ids.begin() + 4);  // row 0 cut after its EOT
    std::vector<float> cut =
        model.encode_text(Tensor::from_vector<int32_t>({1, 4}, short_ids)).value().to_vector<float>();
    ASSERT_EQ(cut.size() * 2, full.size());
    double largest = 0;
    for (size_t i = 0; i < cut.size(); ++i) {
      EXPECT_NEAR(cut[i], full[i], 1e-5) << name << " feature " << i;
      largest = std::max(largest, std::abs(double(full[i])));
    }
    EXPECT_GT(largest, 1e-3) << name << ": features too small for the comparison to mean anything";
    // And the position does matter: the same text at full length but without the EOT pools elsewhere.
    EXPECT_NE(cut, std::vector<float>(full.begin() + cut.size(), full.end())) << name;
  }
}

TEST(ClipModelTest, HuggingFacePoolsAtTheFirstEos) {
  ClipConfig config = ClipConfig::named("rn-tiny");
  config.eos_token_id = 5;
  ClipModel model(config);
  Tensor tokens = Tensor::from_vector<int32_t>({2, 4}, {1, 5, 9, 5, 7, 8, 9, 3});
  EXPECT_EQ(model.eot_positions(tokens).to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
  config.eos_token_id = -1;
  EXPECT_EQ(ClipModel(config).eot_positions(tokens).to_vector<int32_t>(), (std::vector<int32_t>{2, 2}));
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
  EXPECT_NE(load_error(directory).find("config.json is not valid JSON"), std::string::npos);

  std::string hf_file = directory + "/model.safetensors";
  EXPECT_NE(load_error(hf_file).find("pass the directory"), std::string::npos);
  fs::remove_all(directory);

  ClipModel resnet(ClipConfig::named("rn-tiny"));
  EXPECT_THROW(save_clip(resnet, temp_path("hf_resnet"), CheckpointLayout::HuggingFace), std::invalid_argument);
  EXPECT_FALSE(fs::exists(temp_path("hf_resnet")));
}

}  // namespace
}  // namespace clipgrad::clip
