// Gather with gradient: forward repeats every rank's rows in rank order,
// backward is the reduce-scatter of the gradient (open_clip's semantics).
#include "distributed/gather.h"

#include <gtest/gtest.h>

#include "autograd/functional.h"
#include "distributed/mirror_world.h"

using namespace clipgrad;

TEST(AllGatherWithGrad, BackwardSumsTheRanksGradientsOfThisRanksRows) {
  clipgrad::testing::MirrorWorld world(3);
  Variable local(Tensor::from_vector<double>({2, 2}, {1, 2, 3, 4}), true);
  Variable gathered = distributed::all_gather_with_grad(local, world, "features");
  ASSERT_EQ(gathered.shape(), (Shape{6, 2}));
  EXPECT_EQ(gathered.value().to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
  // A loss that weighs each gathered row differently: row r gets weight r + 1.
  Variable weights(Tensor::from_vector<double>({6, 1}, {1, 2, 3, 4, 5, 6}));
  fn::sum_all(fn::mul(gathered, weights)).backward();
  // Every (mirrored) rank has the same gradient of the gathered rows; this
  // rank's rows are 0 and 1, and their gradient summed over the 3 ranks is
  // 3 x (1, 2).
  EXPECT_EQ(local.grad().to_vector<double>(), (std::vector<double>{3, 3, 6, 6}));
  EXPECT_EQ(world.log,
            (std::vector<std::string>{"all-gather of features", "reduce-scatter of the gradient of features"}));
}
