// --accum-freq and --grad-checkpointing: the gradient of K micro-batches
// accumulated as open_clip does is the gradient of the one large batch (to f32
// rounding), and checkpointed transformer blocks give the same gradients, bit
// for bit.
#include <gtest/gtest.h>

#include <cmath>

#include "clip/train/objective.h"

namespace clipgrad::clip {
namespace {

std::shared_ptr<ClipModel> tiny_model() {
  auto model = std::make_shared<ClipModel>(ClipConfig::named("vit-tiny-28"));
  Generator generator(3);
  model->init_openai(generator);
  model->train();
  return model;
}

// B random 28 px images and B token rows whose EOT sits at a varying position.
TrainBatch random_batch(int64_t rows, uint64_t seed) {
  Generator generator(seed);
  std::vector<float> pixels(rows * 3 * 28 * 28);
  for (float& value : pixels) value = static_cast<float>(generator.uniform() * 2 - 1);
  std::vector<int32_t> tokens(rows * 32, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t length = 3 + r % 9;
    tokens[r * 32] = 49406;
    for (int64_t t = 1; t < length; ++t) tokens[r * 32 + t] = 1 + static_cast<int32_t>(generator.below(4000));
    tokens[r * 32 + length] = 49407;
  }
  TrainBatch batch;
  batch.images = {Tensor::from_vector<float>({rows, 3, 28, 28}, pixels)};
  batch.tokens = {Tensor::from_vector<int32_t>({rows, 32}, tokens)};
  for (int64_t r = 0; r < rows; ++r) batch.rows.push_back(r);
  return batch;
}

std::map<std::string, std::vector<float>> gradients(ClipModel& model) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, param] : model.named_parameters())
    if (param.has_grad()) out[name] = param.grad().to_vector<float>();
  return out;
}

TEST(Accumulation, MicroBatchesGiveTheLargeBatchGradient) {
  auto model = tiny_model();
  const TrainBatch batch = random_batch(12, 5);
  ClipObjective objective;
  const double whole_loss = forward_backward(*model, objective, batch).total().value().item();
  const auto whole = gradients(*model);
  for (int64_t micro : {2, 3}) {
    const double loss =
        accumulated_forward_backward(*model, objective, split_batch(batch, micro)).total().value().item();
    EXPECT_NEAR(loss, whole_loss, 1e-5 * std::abs(whole_loss));
    const auto accumulated = gradients(*model);
    ASSERT_EQ(accumulated.size(), whole.size());
    for (const auto& [name, expected] : whole) {
      const std::vector<float>& actual = accumulated.at(name);
      double difference = 0, norm = 0;
      for (size_t i = 0; i < expected.size(); ++i) {
        difference += std::pow(double(actual[i]) - expected[i], 2);
        norm += std::pow(double(expected[i]), 2);
      }
      // f32 rounding: the sums run in another order.
      EXPECT_LE(std::sqrt(difference), 2e-5 * std::sqrt(norm) + 1e-9) << name << " with " << micro << " micro-batches";
    }
  }
  EXPECT_THROW(split_batch(batch, 5), std::invalid_argument);
}

TEST(GradCheckpointing, SameGradientsToTheBit) {
  auto model = tiny_model();
  const TrainBatch batch = random_batch(6, 9);
  ClipObjective objective;
  const float loss = forward_backward(*model, objective, batch).total().value().item();
  const auto plain = gradients(*model);
  model->set_grad_checkpointing(true);
  const float checkpointed_loss = forward_backward(*model, objective, batch).total().value().item();
  EXPECT_EQ(checkpointed_loss, loss);
  EXPECT_EQ(gradients(*model), plain);
  // With accumulation too.
  model->set_grad_checkpointing(false);
  accumulated_forward_backward(*model, objective, split_batch(batch, 2));
  const auto accumulated = gradients(*model);
  model->set_grad_checkpointing(true);
  accumulated_forward_backward(*model, objective, split_batch(batch, 2));
  EXPECT_EQ(gradients(*model), accumulated);
}

}  // namespace
}  // namespace clipgrad::clip
