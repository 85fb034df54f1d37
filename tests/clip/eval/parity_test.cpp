// PyTorch parity: the `clipgrad dump` code path against float64 PyTorch
// references (OpenAI's clip/model.py, transformers' CLIPModel), tensor by
// tensor: features, logits, loss, every parameter gradient and BatchNorm
// running statistics.
#include "clip/eval/parity_dump.h"

#include <gtest/gtest.h>

#include "parity_check.h"

namespace clipgrad::clip {
namespace {

using testing::expect_matches;
using testing::kFixtures;

TEST(Parity, TinyViT) {
  expect_matches(dump_model(kFixtures + "/tiny_vit_model.safetensors", kFixtures + "/tiny_vit_expect.safetensors"),
                 kFixtures + "/tiny_vit_expect.safetensors");
}

TEST(Parity, TinyModifiedResNet) {
  expect_matches(dump_model(kFixtures + "/tiny_rn_model.safetensors", kFixtures + "/tiny_rn_expect.safetensors"),
                 kFixtures + "/tiny_rn_expect.safetensors");
}

TEST(Parity, HuggingFaceCLIPModel) {
  TensorMap got = dump_model(kFixtures + "/hf_tiny", kFixtures + "/hf_tiny_expect.safetensors");
  EXPECT_TRUE(got.count("grad.text_model.encoder.layers.0.self_attn.k_proj.weight"));
  expect_matches(got, kFixtures + "/hf_tiny_expect.safetensors");
}

// The strict check of the math: the whole step in float64, every tensor
// within 1e-6 of the float64 references.
TEST(ParityFloat64, TinyViT) {
  expect_matches(
      dump_model(kFixtures + "/tiny_vit_model.safetensors", kFixtures + "/tiny_vit_expect.safetensors", DType::F64),
      kFixtures + "/tiny_vit_expect.safetensors", 1e-6);
}

TEST(ParityFloat64, TinyModifiedResNet) {
  expect_matches(
      dump_model(kFixtures + "/tiny_rn_model.safetensors", kFixtures + "/tiny_rn_expect.safetensors", DType::F64),
      kFixtures + "/tiny_rn_expect.safetensors", 1e-6);
}

TEST(ParityFloat64, HuggingFaceCLIPModel) {
  expect_matches(dump_model(kFixtures + "/hf_tiny", kFixtures + "/hf_tiny_expect.safetensors", DType::F64),
                 kFixtures + "/hf_tiny_expect.safetensors", 1e-6);
}

}  // namespace
}  // namespace clipgrad::clip
