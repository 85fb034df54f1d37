// load_clip on PyTorch files (tests/fixtures/torch/, written by real PyTorch
// with tools/make_torch_fixtures.py from the tiny models), --config, the
// shape check made before a model is allocated, and save_clip's dtypes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "clip/checkpoint/checkpoint.h"
#include "io/safetensors.h"
#include "tensor/float16.h"

namespace clipgrad::clip {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = CLIPGRAD_FIXTURES;
const std::string kTorch = kFixtures + "/torch/";

std::string temp_path(const std::string& stem) {
  return (fs::path(::testing::TempDir()) / ("torch_checkpoint_test." + std::to_string(::getpid()) + "." + stem))
      .string();
}

// The tiny models' true configs (their clip_config metadata): their head
// counts are not OpenAI's width / 64, which is all the shapes can say.
ClipConfig config_of(const std::string& model) {
  return ClipConfig::from_json(nlohmann::json::parse(
      io::read_safetensors(kFixtures + "/" + model + "_model.safetensors").metadata.at("clip_config")));
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void expect_same_weights(const LoadedClip& got, const std::string& model) {
  const nn::StateDict expected = load_clip(kFixtures + "/" + model + "_model.safetensors").model->state_dict();
  const nn::StateDict actual = got.model->state_dict();
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, value] : expected) {
    ASSERT_TRUE(actual.count(name)) << name;
    EXPECT_TRUE(same_tensor(actual.at(name), value)) << name;
  }
}

struct Fixture {
  const char* file;
  const char* model;
  const char* format;
};

TEST(TorchCheckpoint, EachFormatLoadsTheWeightsBitForBit) {
  for (const Fixture& f : {Fixture{"cleanclip_rn.pt", "tiny_rn", "torch.save (zip)"},
                           Fixture{"openclip_vit.pt", "tiny_vit", "torch.save (zip)"},
                           Fixture{"torchscript_vit.pt", "tiny_vit", "TorchScript archive"},
                           Fixture{"legacy_rn.pt", "tiny_rn", "torch.save (legacy, before PyTorch 1.6)"}}) {
    SCOPED_TRACE(f.file);
    LoadedClip loaded = load_clip(kTorch + f.file, {config_of(f.model)});
    EXPECT_EQ(loaded.format, f.format);
    EXPECT_EQ(loaded.layout, CheckpointLayout::OpenAI);
    EXPECT_EQ(loaded.config_source, ConfigSource::Given);
    EXPECT_EQ(loaded.config, config_of(f.model));
    expect_same_weights(loaded, f.model);
  }
}

TEST(TorchCheckpoint, TrainingCheckpointsNoteWhatIsNotLoaded) {
  LoadedClip cleanclip = load_clip(kTorch + "cleanclip_rn.pt", {config_of("tiny_rn")});
  auto has = [](const LoadedClip& loaded, const std::string& text) {
    for (const std::string& note : loaded.notes)
      if (note.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has(cleanclip, "'module.' prefix"));
  EXPECT_TRUE(has(cleanclip, "ignored 'optimizer'"));
  EXPECT_TRUE(has(cleanclip, "ignored 'epoch': 10"));
  LoadedClip openclip = load_clip(kTorch + "openclip_vit.pt", {config_of("tiny_vit")});
  EXPECT_TRUE(has(openclip, "ignored 'scaler'"));
  EXPECT_FALSE(has(openclip, "'module.' prefix"));
  EXPECT_EQ(cleanclip.stored_dtypes.at("I64"), 19);  // BatchNorm counters, as PyTorch keeps them
}

TEST(TorchCheckpoint, Fp16ValuesAreExactlyTheRoundedWeights) {
  LoadedClip loaded = load_clip(kTorch + "fp16_vit.pt", {config_of("tiny_vit")});
  EXPECT_EQ(loaded.stored_dtypes, (std::map<std::string, int64_t>{{"F16", 62}}));
  const nn::StateDict original = load_clip(kFixtures + "/tiny_vit_model.safetensors").model->state_dict();
  const nn::StateDict actual = loaded.model->state_dict();
  int64_t changed = 0;
  for (const auto& [name, value] : original) {
    const Tensor& got = actual.at(name);
    ASSERT_EQ(got.shape(), value.shape()) << name;
    for (int64_t i = 0; i < value.numel(); ++i) {
      const float rounded = half_to_float(float_to_half(value.data<float>()[i]));
      ASSERT_EQ(got.data<float>()[i], rounded) << name << "[" << i << "]";
      changed += rounded != value.data<float>()[i];
    }
  }
  EXPECT_GT(changed, 0) << "the fixture must hold values that f16 rounds";
}

TEST(TorchCheckpoint, InfersTheConfigFromShapesWhenNoneIsGiven) {
  LoadedClip loaded = load_clip(kTorch + "torchscript_vit.pt");
  EXPECT_EQ(loaded.config_source, ConfigSource::Inferred);
  ClipConfig expected = config_of("tiny_vit");
  expected.transformer_heads = 1;  // OpenAI's rule: 64 / 64; the model was made with 2
  EXPECT_EQ(loaded.config, expected.resolved());
}

TEST(TorchCheckpoint, AGivenConfigThatDoesNotFitIsRefusedBeforeAllocating) {
  ClipConfig wrong = config_of("tiny_vit");
  wrong.vision_width = 256;
  wrong.vision_heads = 4;
  try {
    load_clip(kTorch + "openclip_vit.pt", {wrong});
    FAIL() << "a config that does not fit must be refused";
  } catch (const CheckpointError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("bad checkpoint '" + kTorch + "openclip_vit.pt': ", 0), 0u) << message;
    EXPECT_NE(message.find("'visual.conv1.weight' has shape [128,3,8,8], the model expects [256,3,8,8]"),
              std::string::npos)
        << message;
  }
}

// A config that demands absurd sizes ends in an error naming the
// file, not in std::bad_alloc.
TEST(TorchCheckpoint, AbsurdMetadataConfigsAreRefusedWithTheFileNamed) {
  io::SafetensorsFile file = io::read_safetensors(kFixtures + "/tiny_vit_model.safetensors");
  nlohmann::json config = nlohmann::json::parse(file.metadata.at("clip_config"));
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* expected;
  };
  for (const Case& c : {Case{"vision_width", int64_t(1) << 40, "vision_width 1099511627776 is absurd"},
                        Case{"vocab_size", int64_t(1) << 36, "vocab_size 68719476736 is absurd"},
                        Case{"transformer_layers", 100000, "transformer_layers 100000 is absurd"},
                        // Plausible sizes, far more than the file holds: the shapes say so first.
                        Case{"vision_layers", 4000, "missing tensor 'visual.transformer.resblocks."},
                        Case{"vocab_size", 1000000,
                             "'token_embedding.weight' has shape [500,64], the model expects "
                             "[1000000,64]"}}) {
    SCOPED_TRACE(c.key);
    nlohmann::json edited = config;
    edited[c.key] = c.value;
    std::map<std::string, std::string> metadata = file.metadata;
    metadata["clip_config"] = edited.dump();
    const std::string path = temp_path(std::string(c.key) + ".safetensors");
    io::write_safetensors(path, file.tensors, metadata);
    try {
      load_clip(path);
      ADD_FAILURE() << "loaded";
    } catch (const CheckpointError& error) {
      const std::string message = error.what();
      EXPECT_EQ(message.rfind("bad checkpoint '" + path + "': ", 0), 0u) << message;
      EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    }
    fs::remove(path);
  }
}

TEST(TorchCheckpoint, ExpectedShapesAreTheModelsStateDict) {
  for (const ClipConfig& config :
       {config_of("tiny_vit"), config_of("tiny_rn"), ClipConfig::named("vit-tiny-28"), ClipConfig::named("rn-tiny")}) {
    const std::map<std::string, Shape> expected = expected_shapes(config);
    const nn::StateDict state = ClipModel(config).state_dict();
    ASSERT_EQ(expected.size(), state.size());
    for (const auto& [name, value] : state) {
      ASSERT_TRUE(expected.count(name)) << name;
      EXPECT_EQ(expected.at(name), value.shape()) << name;
    }
  }
}

TEST(TorchCheckpoint, SavesInHalfPrecisionAndLoadsBack) {
  LoadedClip loaded = load_clip(kTorch + "fp16_vit.pt", {config_of("tiny_vit")});
  for (const char* dtype : {"F16", "BF16"}) {
    SCOPED_TRACE(dtype);
    const std::string path = temp_path(std::string("half.") + dtype + ".safetensors");
    save_clip(*loaded.model, path, CheckpointLayout::OpenAI, dtype);
    for (const auto& [name, stored] : io::read_safetensors(path).tensors) EXPECT_EQ(stored.stored_dtype, dtype) << name;
    LoadedClip again = load_clip(path);
    EXPECT_EQ(again.config, loaded.config);
    if (std::string(dtype) == "F16") {  // f16 values survive f16 exactly
      const nn::StateDict a = again.model->state_dict(), b = loaded.model->state_dict();
      for (const auto& [name, value] : b) EXPECT_TRUE(same_tensor(a.at(name), value)) << name;
    }
    fs::remove(path);
  }
  EXPECT_THROW(save_clip(*loaded.model, temp_path("x.safetensors"), CheckpointLayout::OpenAI, "F8"),
               std::invalid_argument);
}

TEST(TorchCheckpoint, HuggingFaceDirectoriesTakeAGivenConfig) {
  const std::string directory = temp_path("hf_no_config");
  fs::create_directories(directory);
  fs::copy_file(kFixtures + "/hf_tiny/model.safetensors", directory + "/model.safetensors");
  const ClipConfig config = load_clip(kFixtures + "/hf_tiny").config;
  LoadedClip loaded = load_clip(directory, {config});
  EXPECT_EQ(loaded.config_source, ConfigSource::Given);
  EXPECT_EQ(loaded.layout, CheckpointLayout::HuggingFace);
  ClipConfig bigger = config;
  bigger.vocab_size = 1000000;
  try {
    load_clip(directory, {bigger});
    ADD_FAILURE() << "loaded";
  } catch (const CheckpointError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("'text_model.embeddings.token_embedding.weight' has shape [500,64], the "
                        "model expects [1000000,64]"),
              std::string::npos)
        << error.what();
  }
  fs::remove_all(directory);
}

// The format is told by the first bytes, not the name: a Hugging Face
// directory's pytorch_model.bin is read when it has no model.safetensors.
TEST(TorchCheckpoint, HuggingFaceDirectoriesWithPytorchModelBin) {
  const std::string directory = temp_path("hf_bin");
  fs::create_directories(directory);
  fs::copy_file(kFixtures + "/hf_tiny/config.json", directory + "/config.json");
  fs::copy_file(kFixtures + "/hf_tiny/model.safetensors", directory + "/pytorch_model.bin");
  LoadedClip loaded = load_clip(directory);
  EXPECT_EQ(loaded.layout, CheckpointLayout::HuggingFace);
  EXPECT_EQ(loaded.config_source, ConfigSource::ConfigJson);
  const nn::StateDict expected = load_clip(kFixtures + "/hf_tiny").model->state_dict();
  for (const auto& [name, value] : loaded.model->state_dict())
    EXPECT_TRUE(same_tensor(value, expected.at(name))) << name;
  fs::remove_all(directory);
}

TEST(TorchCheckpoint, CorruptPyTorchFilesNameTheFile) {
  const std::string path = temp_path("truncated.pt");
  {
    std::ifstream in(kTorch + "torchscript_vit.pt", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  try {
    load_clip(path);
    FAIL() << "a truncated file must be refused";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()).rfind("bad checkpoint '" + path + "': ", 0), 0u) << error.what();
  }
  fs::remove(path);
}

}  // namespace
}  // namespace clipgrad::clip
