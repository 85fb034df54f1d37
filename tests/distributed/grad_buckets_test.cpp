// Gradient buckets: the cut into size-bounded buckets, their all-reduces
// starting inside backward as soon as their gradients are final, and the
// average the trainer gets back.
#include "distributed/grad_buckets.h"

#include <gtest/gtest.h>

#include "autograd/functional.h"
#include "distributed/mirror_world.h"

using namespace clipgrad;

namespace {

// Five parameters of 100 f32 values (400 bytes) each.
std::vector<Variable> five_params() {
  std::vector<Variable> params;
  for (int i = 0; i < 5; ++i) {
    std::vector<float> values(100);
    for (int j = 0; j < 100; ++j) values[j] = 1.0f + 0.01f * float(i * 100 + j);
    params.emplace_back(Tensor::from_vector<float>({100}, values), true);
  }
  return params;
}

// x * w0 * w1 * ... * w4, summed: backward reaches w4 first and w0 last.
Variable chain_loss(const std::vector<Variable>& params) {
  Variable h(Tensor::full({100}, 0.5));
  for (const Variable& w : params) h = fn::mul(h, w);
  return fn::sum_all(h);
}

}  // namespace

TEST(GradientBuckets, CutsFromTheLastParameterWithinTheByteBound) {
  clipgrad::testing::MirrorWorld world(2);
  distributed::GradientBuckets buckets(five_params(), world, 1000);
  std::vector<std::vector<size_t>> expected{{4, 3}, {2, 1}, {0}};
  EXPECT_EQ(buckets.buckets(), expected);
  // A parameter larger than the bound gets a bucket of its own.
  distributed::GradientBuckets small(five_params(), world, 100);
  EXPECT_EQ(small.buckets().size(), 5u);
}

TEST(GradientBuckets, EachBucketStartsInsideBackwardInOrderAndTheAverageComesBack) {
  std::vector<Variable> reference = five_params();
  chain_loss(reference).backward();

  clipgrad::testing::MirrorWorld world(2);
  std::vector<Variable> params = five_params();
  distributed::GradientBuckets buckets(params, world, 1000);
  buckets.start_step();
  chain_loss(params).backward();
  // All three started during the sweep, the last layers' first.
  EXPECT_EQ(buckets.started_during_backward(), 3);
  ASSERT_EQ(world.log.size(), 3u);
  EXPECT_EQ(world.log[0].rfind("all-reduce of gradient bucket 0", 0), 0u) << world.log[0];
  EXPECT_EQ(world.log[2].rfind("all-reduce of gradient bucket 2", 0), 0u) << world.log[2];
  buckets.finish_step();
  // Two identical ranks: the average is the local gradient.
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(params[i].grad().to_vector<float>(), reference[i].grad().to_vector<float>()) << "parameter " << i;

  // The next step starts afresh.
  for (Variable& param : params) param.zero_grad();
  buckets.start_step();
  chain_loss(params).backward();
  EXPECT_EQ(buckets.started_during_backward(), 3);
  buckets.finish_step();
}

TEST(GradientBuckets, AParameterBackwardDidNotReachCountsAsZero) {
  clipgrad::testing::MirrorWorld world(2);
  std::vector<Variable> params = five_params();
  distributed::GradientBuckets buckets(params, world, 1000);
  buckets.start_step();
  // w0 unused: bucket 2 ({0}) never completes inside backward.
  chain_loss({params.begin() + 1, params.end()}).backward();
  EXPECT_EQ(buckets.started_during_backward(), 2);
  buckets.finish_step();
  ASSERT_TRUE(params[0].has_grad());
  for (float g : params[0].grad().to_vector<float>()) EXPECT_EQ(g, 0.0f);
}

// ZeRO-1's reduction: each bucket padded to N equal segments, rank r keeping
// segment r of the average (MirrorWorld is rank 0 of identical ranks).
TEST(GradientBuckets, ReduceScatterLeavesEachRankItsSegmentOfTheAverage) {
  std::vector<Variable> reference = five_params();
  chain_loss(reference).backward();

  clipgrad::testing::MirrorWorld world(3);
  std::vector<Variable> params = five_params();
  distributed::GradientBuckets buckets(params, world, 1000, distributed::GradientReduction::reduce_scatter);
  buckets.start_step();
  chain_loss(params).backward();
  EXPECT_EQ(buckets.started_during_backward(), 3);
  EXPECT_EQ(world.log[0].rfind("reduce-scatter of gradient bucket 0", 0), 0u) << world.log[0];
  buckets.finish_step();
  // Bucket 0 is {w4, w3}: 200 values, segments of 67; bucket 2 is {w0}: 100 values, segments of 34.
  ASSERT_EQ(buckets.segment(0), 67);
  ASSERT_EQ(buckets.segment(2), 34);
  std::vector<float> w4 = reference[4].grad().to_vector<float>(), w0 = reference[0].grad().to_vector<float>();
  std::vector<float> shard0 = buckets.shard(0).to_vector<float>(), shard2 = buckets.shard(2).to_vector<float>();
  for (int i = 0; i < 67; ++i) EXPECT_FLOAT_EQ(shard0[i], w4[i]) << i;
  for (int i = 0; i < 34; ++i) EXPECT_FLOAT_EQ(shard2[i], w0[i]) << i;
  // The local gradients are not averages: they are cleared.
  for (const Variable& param : params) EXPECT_FALSE(param.has_grad());
}
