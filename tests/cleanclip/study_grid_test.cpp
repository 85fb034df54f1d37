// The rule that picks the favoured lambda2 from the ablation, written before any result: the lowest
// mean ASR among the values whose mean clean top-1 is at most the allowed cost below the poisoned
// models', ties to the smaller, the smallest when none is within the cost.
#include <gtest/gtest.h>

#include "cleanclip/study_stages.h"

namespace clipgrad::cleanclip {
namespace {

GridRecord stage(const std::string& kind, double lambda2, int64_t seed, double top1, double asr,
                 const std::string& experiment = "lambda2") {
  GridRecord r;
  r.experiments = {experiment};
  r.attack = "badnet";
  r.kind = kind;
  r.stage = kind;
  r.seed = seed;
  r.lambda2 = lambda2;
  r.clean_top1 = top1;
  r.asr = asr;
  return r;
}

// Poisoned models at clean top-1 0.80 (seeds 0, 1), and cleanclip at each (lambda2, top-1, ASR) given.
std::vector<GridRecord> ablation(const std::vector<std::tuple<double, double, double>>& points) {
  std::vector<GridRecord> records;
  for (int64_t seed = 0; seed < 2; ++seed) {
    records.push_back(stage("poisoned-pretrain", NAN, seed, 0.80, 0.9));
    for (const auto& [lambda2, top1, asr] : points) records.push_back(stage("cleanclip", lambda2, seed, top1, asr));
  }
  return records;
}

TEST(StudyGrid, FavouredLambda2IsTheLowestAsrWithinTheCost) {
  // lambda2 = 8 has the lowest ASR but costs 0.05 of clean top-1: 4 is favoured.
  EXPECT_EQ(favoured_lambda2(ablation({{1, 0.80, 0.5}, {4, 0.785, 0.2}, {8, 0.75, 0.05}}), "lambda2", 0.02), 4);
  EXPECT_EQ(favoured_lambda2(ablation({{1, 0.80, 0.5}, {4, 0.785, 0.2}, {8, 0.75, 0.05}}), "lambda2", 0.10), 8);
  // Ties: the smaller.
  EXPECT_EQ(favoured_lambda2(ablation({{0.5, 0.80, 0.3}, {2, 0.80, 0.3}}), "lambda2", 0.02), 0.5);
  // None within the cost: the smallest.
  EXPECT_EQ(favoured_lambda2(ablation({{2, 0.70, 0.1}, {4, 0.60, 0.0}}), "lambda2", 0.02), 2);
}

TEST(StudyGrid, FavouredLambda2ReadsOnlyItsExperimentAndNeedsIt) {
  std::vector<GridRecord> records = ablation({{1, 0.80, 0.5}, {4, 0.80, 0.3}});
  records.push_back(stage("cleanclip", 8, 0, 0.80, 0.0, "main"));  // another experiment's stage
  EXPECT_EQ(favoured_lambda2(records, "lambda2", 0.02), 4);
  EXPECT_THROW(favoured_lambda2(records, "sweep", 0.02), std::invalid_argument);
  EXPECT_THROW(favoured_lambda2(ablation({}), "lambda2", 0.02), std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip
