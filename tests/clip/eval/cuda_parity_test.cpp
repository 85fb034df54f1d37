// PyTorch parity on the GPU: the same dump as parity_test.cpp (the trainer's
// step: features, logits, loss, every gradient, BatchNorm running
// statistics) run on CUDA, against the same float64 references, to 1e-4 per
// tensor in float32. Skips without a GPU.
#include <gtest/gtest.h>

#include "clip/eval/parity_dump.h"
#include "parity_check.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

namespace clipgrad::clip {
namespace {

using testing::expect_matches;
using testing::kFixtures;

// Why the GPU parity cannot run here, or nullptr when it can.
const char* why_not_on_gpu() {
#if !defined(CLIPGRAD_HAVE_CUDA)
  return "built without CUDA";
#else
  return cuda::available() ? nullptr : "no CUDA device";
#endif
}

#define SKIP_UNLESS_ON_GPU() \
  if (const char* why = why_not_on_gpu()) GTEST_SKIP() << why

TEST(ParityCuda, TinyViT) {
  SKIP_UNLESS_ON_GPU();
  expect_matches(dump_model(kFixtures + "/tiny_vit_model.safetensors", kFixtures + "/tiny_vit_expect.safetensors",
                            DType::F32, Device::CUDA),
                 kFixtures + "/tiny_vit_expect.safetensors");
}

TEST(ParityCuda, TinyModifiedResNet) {
  SKIP_UNLESS_ON_GPU();
  expect_matches(dump_model(kFixtures + "/tiny_rn_model.safetensors", kFixtures + "/tiny_rn_expect.safetensors",
                            DType::F32, Device::CUDA),
                 kFixtures + "/tiny_rn_expect.safetensors");
}

TEST(ParityCuda, HuggingFaceCLIPModel) {
  SKIP_UNLESS_ON_GPU();
  expect_matches(
      dump_model(kFixtures + "/hf_tiny", kFixtures + "/hf_tiny_expect.safetensors", DType::F32, Device::CUDA),
      kFixtures + "/hf_tiny_expect.safetensors");
}

}  // namespace
}  // namespace clipgrad::clip
