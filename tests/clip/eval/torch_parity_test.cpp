// PyTorch parity for the PyTorch-format fixtures (tests/fixtures/torch/): each
// file, read natively, gives its model's float64 PyTorch reference results
// (features, logits, loss, every gradient, BatchNorm statistics), as the
// safetensors copy of the same weights does in parity_test.cpp.
#include <gtest/gtest.h>

#include "clip/checkpoint/checkpoint.h"
#include "clip/eval/parity_dump.h"
#include "parity_check.h"

namespace clipgrad::clip {
namespace {

using testing::expect_matches;
using testing::kFixtures;

// The tiny models' head counts are not OpenAI's width / 64 rule, so the
// config is given, as `--config` would.
ClipConfig config_of(const std::string& model) {
  return ClipConfig::from_json(nlohmann::json::parse(
      io::read_safetensors(kFixtures + "/" + model + "_model.safetensors").metadata.at("clip_config")));
}

void expect_parity(const std::string& file, const std::string& model) {
  const std::string expect = kFixtures + "/" + model + "_expect.safetensors";
  expect_matches(dump_model(load_clip(kFixtures + "/torch/" + file, {config_of(model)}), expect), expect);
}

TEST(TorchParity, CleanClipCheckpoint) { expect_parity("cleanclip_rn.pt", "tiny_rn"); }
TEST(TorchParity, OpenClipCheckpoint) { expect_parity("openclip_vit.pt", "tiny_vit"); }
TEST(TorchParity, TorchScriptArchive) { expect_parity("torchscript_vit.pt", "tiny_vit"); }
TEST(TorchParity, LegacyFormat) { expect_parity("legacy_rn.pt", "tiny_rn"); }

}  // namespace
}  // namespace clipgrad::clip
