// ClipModel (clip/model/): the named configs' parameter counts against
// OpenAI's, OpenAI's initialisation, both towers' shapes on the tiny configs,
// causal attention (tokens after a text's EOT cannot reach its feature), the
// EOT pooling of OpenAI and Hugging Face models, and token tables cut on the
// host so that a device's text tower reads nothing back.
#include "clip/model/model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tensor/random.h"
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/counters.h"
#include "cuda/runtime.h"
#endif

namespace clipgrad::clip {
namespace {

int64_t parameter_count(const ClipModel& model) {
  int64_t total = 0;
  for (const auto& [name, parameter] : model.named_parameters()) total += parameter.numel();
  return total;
}

TEST(ClipModel, NamedConfigsHaveOpenAIParameterCounts) {
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

TEST(ClipModel, TinyConfigsInitialiseAndRun) {
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

TEST(ClipModel, HuggingFacePoolsAtTheFirstEos) {
  ClipConfig config = ClipConfig::named("rn-tiny");
  config.eos_token_id = 5;
  ClipModel model(config);
  Tensor tokens = Tensor::from_vector<int32_t>({2, 4}, {1, 5, 9, 5, 7, 8, 9, 3});
  EXPECT_EQ(model.eot_positions(tokens).to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
  config.eos_token_id = -1;
  EXPECT_EQ(ClipModel(config).eot_positions(tokens).to_vector<int32_t>(), (std::vector<int32_t>{2, 2}));
}

// Two captions ending at positions 2 and 5 of a 77-token context.
Tensor two_captions(const ClipConfig& config) {
  std::vector<int32_t> ids(2 * config.context_length, 0);
  for (int64_t n = 0; n < 2; ++n) {
    const int64_t eot = 2 + 3 * n;
    ids[n * config.context_length] = 49406;
    for (int64_t t = 1; t < eot; ++t) ids[n * config.context_length + t] = int32_t(300 + t);
    ids[n * config.context_length + eot] = 49407;
  }
  return Tensor::from_vector<int32_t>({2, config.context_length}, ids);
}

TEST(ClipModel, TrimTokensCutsAfterTheLastEotWithTheSameFeatures) {
  ClipModel model(ClipConfig::named("vit-tiny-28"));
  Generator generator(3);
  model.init_openai(generator);
  const Tensor tokens = two_captions(model.config());
  const Tensor cut = model.trim_tokens(tokens);
  ASSERT_EQ(cut.shape(), (Shape{2, 6}));
  EXPECT_EQ(model.eot_positions(cut).to_vector<int32_t>(), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(model.encode_text(cut).value().to_vector<float>(), model.encode_text(tokens).value().to_vector<float>());
  const Tensor whole = model.trim_tokens(cut);  // nothing left to cut
  EXPECT_EQ(whole.shape(), cut.shape());
}

#ifdef CLIPGRAD_CUDA_EMULATE
// On the device the text tower finds the EOTs there, uploads its causal mask
// once and leaves the index checks to the kernels (cuda/bad_indices.h): a
// second forward neither waits for the device nor copies anything to it.
TEST(ClipModel, DeviceTextTowerReadsNoTokensBack) {
  if (!cuda::available()) GTEST_SKIP() << "no emulated device";
  ClipModel model(ClipConfig::named("vit-tiny-28"));
  Generator generator(3);
  model.init_openai(generator);
  const Tensor cut = model.trim_tokens(two_captions(model.config()));
  const std::vector<float> on_cpu = model.encode_text(cut).value().to_vector<float>();
  model.to(Device::CUDA);
  const Tensor on_device = cut.to(Device::CUDA);
  EXPECT_THROW(model.trim_tokens(on_device), std::invalid_argument);
  EXPECT_EQ(model.eot_positions(on_device).device(), Device::CUDA);
  model.encode_text(on_device);  // uploads the mask for length 6
  const cuda::emulator::Counters before = cuda::emulator::counters();
  const Tensor features = model.encode_text(on_device).value();
  const cuda::emulator::Counters work = cuda::emulator::counters() - before;
  EXPECT_EQ(work.host_waits, 0u);
  EXPECT_EQ(work.host_to_device_copies, 0u);
  const std::vector<float> got = features.to(Device::CPU).to_vector<float>();
  ASSERT_EQ(got.size(), on_cpu.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], on_cpu[i], 1e-5) << i;
}
#endif

}  // namespace
}  // namespace clipgrad::clip
