// The CleanCLIP objective against its float64 PyTorch reference
// (../shared/fixtures/cleanclip_loss.safetensors): losses and gradients.
#include "cleanclip/objective_dump.h"

#include <gtest/gtest.h>

#include "parity_check.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

namespace clipgrad::cleanclip {
namespace {

using testing::expect_matches;
using testing::kFixtures;

TEST(Parity, CleanClipObjective) {
  expect_matches(dump_objective(kFixtures + "/cleanclip_loss.safetensors"), kFixtures + "/cleanclip_loss.safetensors");
}

TEST(ParityFloat64, CleanClipObjective) {
  expect_matches(dump_objective(kFixtures + "/cleanclip_loss.safetensors", DType::F64),
                 kFixtures + "/cleanclip_loss.safetensors", 1e-6);
}

// The same on the GPU, to 1e-4 (skips without one).
TEST(ParityCuda, CleanClipObjective) {
#if !defined(CLIPGRAD_HAVE_CUDA)
  GTEST_SKIP() << "built without CUDA";
#else
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  expect_matches(dump_objective(kFixtures + "/cleanclip_loss.safetensors", DType::F32, Device::CUDA),
                 kFixtures + "/cleanclip_loss.safetensors");
#endif
}

}  // namespace
}  // namespace clipgrad::cleanclip
