// The CleanCLIP objective against its float64 PyTorch reference
// (../shared/fixtures/cleanclip_loss.safetensors): losses and gradients.
#include "cleanclip/objective_dump.h"

#include <gtest/gtest.h>

#include "parity_check.h"

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

}  // namespace
}  // namespace clipgrad::cleanclip
