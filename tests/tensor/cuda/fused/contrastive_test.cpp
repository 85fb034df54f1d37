// The fused contrastive cross-entropy against its CPU twin, norm-relative:
// 1e-5 for the loss and gradient (the CPU keeps its statistics in double,
// the GPU in float: N-term sums, ~sqrt(N) * 6e-8).
#include <gtest/gtest.h>

#include <cmath>

#include "tensor/ops/reduce.h"
#include "tests/tensor/cuda/cuda_vs_cpu.h"

using namespace clipgrad;
using namespace clipgrad::testing;

TEST(CudaContrastive, MatchesCpuInBothModes) {
  SKIP_WITHOUT_GPU();
  for (auto directions : {ops::ContrastiveDirections::Symmetric, ops::ContrastiveDirections::RowsOnly}) {
    for (int64_t n : {1, 2, 31, 33, 256, 1000, 4096}) {
      if (small_shapes_only() && n > 256) continue;
      SCOPED_TRACE("n " + std::to_string(n));
      // Logits at CLIP's scale: cosines times up to 100.
      Tensor logits = random_tensor({n, n}, 20 + n, 30.0);
      ops::ContrastiveCrossEntropy want = ops::contrastive_cross_entropy(logits, directions);
      ops::ContrastiveCrossEntropy have = ops::contrastive_cross_entropy(on_cuda(logits), directions);
      EXPECT_LE(norm_relative_error(have.loss, want.loss), 1e-5) << "loss";
      EXPECT_LE(norm_relative_error(have.grad_logits, want.grad_logits), 1e-5) << "grad";
    }
  }
}

TEST(CudaContrastive, LargeLogitsStayFinite) {
  SKIP_WITHOUT_GPU();
  Tensor logits = Tensor::from_vector<float>({2, 2}, {1e4f, -1e4f, 3e4f, 2e4f});
  ops::ContrastiveCrossEntropy have =
      ops::contrastive_cross_entropy(on_cuda(logits), ops::ContrastiveDirections::Symmetric);
  EXPECT_NEAR(have.loss.to(Device::CPU).item(), 7500.0, 1e-2);
  for (float g : have.grad_logits.to(Device::CPU).to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
}
