// score (top-1, top-5, per class) on hand-made logits, and the linear probe on
// features that a linear head can and cannot separate.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "clip/eval/linear_probe.h"
#include "clip/eval/zeroshot.h"
#include "tensor/random.h"

namespace clipgrad::clip {
namespace {

TEST(Score, TopOneTopFiveAndPerClass) {
  // 4 images, 6 classes. Rows: argmax 2 (label 2: hit), argmax 0 (label 1: miss,
  // label ranked 2nd), argmax 5 (label 4: miss, label ranked 6th), argmax 1 (label 1: hit).
  Tensor logits = Tensor::from_vector<float>({4, 6}, {0, 1, 9, 2, 3, 4,  //
                                                      9, 8, 1, 2, 3, 4,  //
                                                      5, 4, 3, 2, 0, 9,  //
                                                      1, 7, 2, 3, 4, 5});
  Accuracy accuracy = score(logits, {2, 1, 4, 1}, 6);
  EXPECT_EQ(accuracy.n, 4);
  EXPECT_DOUBLE_EQ(accuracy.top1, 0.5);
  EXPECT_DOUBLE_EQ(accuracy.top5, 0.75);  // only row 3's label is outside its top 5
  ASSERT_EQ(accuracy.per_class.size(), 6u);
  EXPECT_DOUBLE_EQ(accuracy.per_class[1], 0.5);
  EXPECT_DOUBLE_EQ(accuracy.per_class[2], 1.0);
  EXPECT_DOUBLE_EQ(accuracy.per_class[4], 0.0);
  EXPECT_TRUE(std::isnan(accuracy.per_class[0]));  // no image of class 0
  EXPECT_EQ(accuracy.per_class_count[1], 2);
}

// A tie with the true class counts against it (top-1 and top-5 alike), as a pessimistic evaluator counts it.
TEST(Score, TiesCountAgainstTheTrueClass) {
  Tensor logits = Tensor::from_vector<float>({2, 7}, {5, 5, 1, 1, 1, 1, 1,  //
                                                      2, 3, 3, 3, 3, 3, 3});
  Accuracy accuracy = score(logits, {0, 1}, 7);
  EXPECT_DOUBLE_EQ(accuracy.top1, 0.0);  // row 0: class 1 ties the label; row 1: five classes do
  EXPECT_DOUBLE_EQ(accuracy.top5, 0.5);  // row 0: 1 class at least as high; row 1: 5 of them
}

// A broken model (zero or NaN projections) gives NaN or all-equal scores: an error, never a score.
TEST(Score, RefusesScoresThatCannotRankTheClasses) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto refused = [](const Tensor& logits, const std::string& expected) {
    try {
      score(logits, {0, 1}, 3, {"test.csv:2", "test.csv:3"});
      ADD_FAILURE() << "scored " << expected;
    } catch (const BrokenModelError& error) {
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
    }
  };
  refused(Tensor::from_vector<float>({2, 3}, {0, 0, 0, 1, 2, 3}), "test.csv:2: every class scores 0");
  refused(Tensor::from_vector<float>({2, 3}, {1, 2, 3, nan, nan, nan}), "test.csv:3: class 0 scores nan");
  refused(Tensor::from_vector<float>({2, 3}, {1, inf, 3, 1, 2, 3}), "test.csv:2: class 1 scores inf");
  EXPECT_THROW(score(Tensor::empty({0, 3}), {}, 3), std::invalid_argument);      // no image
  EXPECT_THROW(score(Tensor::zeros({2, 1}), {0, 0}, 1), std::invalid_argument);  // one class ranks nothing
  EXPECT_THROW(score(Tensor::zeros({1, 2}), {2}, 2), std::invalid_argument);     // label outside
}

// Features: class c sits around direction c (plus noise), so a linear head separates them.
Tensor clustered(int64_t per_class, int64_t classes, int64_t dims, double noise, Generator& generator,
                 std::vector<int64_t>& labels) {
  Tensor features = Tensor::empty({per_class * classes, dims});
  fill_normal(features, 0, noise, generator);
  float* values = features.data<float>();
  for (int64_t i = 0; i < per_class * classes; ++i) {
    labels.push_back(i % classes);
    values[i * dims + i % classes] += 1.0f;
  }
  return features;
}

TEST(LinearProbe, SeparatesClusteredFeaturesAndIsSeeded) {
  Generator generator(5);
  std::vector<int64_t> train_labels, test_labels;
  Tensor train = clustered(40, 3, 8, 0.1, generator, train_labels);
  Tensor test = clustered(20, 3, 8, 0.1, generator, test_labels);
  ProbeOptions options{.epochs = 20, .batch_size = 32, .lr = 1e-2, .weight_decay = 1e-4, .seed = 1};
  ProbeResult result = linear_probe(train, train_labels, test, test_labels, 3, options);
  EXPECT_GE(result.train_top1, 0.95);
  EXPECT_GE(result.test.top1, 0.95);
  EXPECT_EQ(result.test.n, 60);
  ProbeResult again = linear_probe(train, train_labels, test, test_labels, 3, options);
  EXPECT_EQ(again.test.top1, result.test.top1);
  EXPECT_EQ(again.train_top1, result.train_top1);
}

TEST(LinearProbe, RandomLabelsStayNearChanceOnTest) {
  Generator generator(6);
  std::vector<int64_t> ignored;
  Tensor train = clustered(60, 4, 8, 1.0, generator, ignored);
  Tensor test = clustered(60, 4, 8, 1.0, generator, ignored);
  std::vector<int64_t> train_labels, test_labels;
  for (int64_t i = 0; i < 240; ++i) train_labels.push_back(int64_t(generator.below(4)));
  for (int64_t i = 0; i < 240; ++i) test_labels.push_back(int64_t(generator.below(4)));
  ProbeResult result = linear_probe(train, train_labels, test, test_labels, 4, {.epochs = 10, .seed = 2});
  EXPECT_LT(result.test.top1, 0.4);  // chance is 0.25: nothing to learn, nothing learned
}

}  // namespace
}  // namespace clipgrad::clip
