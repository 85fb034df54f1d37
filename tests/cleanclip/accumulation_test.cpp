// --accum-freq with the CleanCLIP objective: micro-batches give the gradient of
// the whole batch, in-modal terms included (their negatives are the whole
// batch's augmented views).
#include <gtest/gtest.h>

#include <cmath>

#include "cleanclip/objective.h"

namespace clipgrad::cleanclip {
namespace {

clip::TrainBatch two_view_batch(int64_t rows, uint64_t seed) {
  Generator generator(seed);
  clip::TrainBatch batch;
  for (int view = 0; view < 2; ++view) {
    std::vector<float> pixels(rows * 3 * 28 * 28);
    for (float& value : pixels) value = static_cast<float>(generator.uniform() * 2 - 1);
    batch.images.push_back(Tensor::from_vector<float>({rows, 3, 28, 28}, pixels));
    std::vector<int32_t> tokens(rows * 32, 0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t length = 2 + (r + view) % 7;
      tokens[r * 32] = 49406;
      for (int64_t t = 1; t < length; ++t) tokens[r * 32 + t] = 1 + static_cast<int32_t>(generator.below(4000));
      tokens[r * 32 + length] = 49407;
    }
    batch.tokens.push_back(Tensor::from_vector<int32_t>({rows, 32}, tokens));
  }
  for (int64_t r = 0; r < rows; ++r) batch.rows.push_back(r);
  return batch;
}

TEST(CleanClipAccumulation, MicroBatchesGiveTheLargeBatchGradient) {
  clip::ClipModel model(clip::ClipConfig::named("vit-tiny-28"));
  Generator generator(4);
  model.init_openai(generator);
  model.train();
  // The augmentations run in the loader; here the batch already holds both views.
  CleanClipObjective objective(
      {.lambda_clip = 1.0, .lambda_inmodal = 2.0}, [](io::Image&, int64_t, Generator&) {},
      [](const std::string& caption, int64_t, Generator&) { return caption; });
  const clip::TrainBatch batch = two_view_batch(8, 6);
  const clip::ObjectiveOutput whole = clip::forward_backward(model, objective, batch);
  std::map<std::string, Tensor> expected;
  for (const auto& [name, param] : model.named_parameters()) expected[name] = param.grad().clone();
  const clip::ObjectiveOutput accumulated =
      clip::accumulated_forward_backward(model, objective, clip::split_batch(batch, 4));
  for (const char* part : {"total", "clip", "inmodal"})
    EXPECT_NEAR(accumulated.losses.at(part).value().item(), whole.losses.at(part).value().item(), 1e-5) << part;
  for (const auto& [name, param] : model.named_parameters()) {
    const std::vector<float> actual = param.grad().to_vector<float>(), wanted = expected.at(name).to_vector<float>();
    double difference = 0, norm = 0;
    for (size_t i = 0; i < wanted.size(); ++i) {
      difference += std::pow(double(actual[i]) - wanted[i], 2);
      norm += std::pow(double(wanted[i]), 2);
    }
    EXPECT_LE(std::sqrt(difference), 2e-5 * std::sqrt(norm) + 1e-9) << name;
  }
}

}  // namespace
}  // namespace clipgrad::cleanclip
