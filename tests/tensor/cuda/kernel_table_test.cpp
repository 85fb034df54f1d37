// The CUDA kernel table has an entry for every raw op tensor/cuda/ owns.
// Filling it needs no GPU, so this runs in every CUDA build.
#include <gtest/gtest.h>

#include "tensor/ops/kernels.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "tensor/cuda/kernels.h"
#endif

namespace clipgrad {
namespace {

TEST(CudaKernelTable, FillsEveryOpOfThisFolder) {
#ifndef CLIPGRAD_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  ops::Kernels table;
  cuda_backend::fill_cuda_kernels(table);
#define ENTRY(op) {#op, table.op != nullptr}
  const std::vector<std::pair<const char*, bool>> entries = {
      ENTRY(add), ENTRY(add_inplace), ENTRY(scale), ENTRY(sub), ENTRY(mul), ENTRY(div), ENTRY(broadcast_to),
      ENTRY(sum_to_shape), ENTRY(exp), ENTRY(log), ENTRY(rsqrt), ENTRY(relu), ENTRY(gelu), ENTRY(quick_gelu),
      ENTRY(rsqrt_backward), ENTRY(relu_backward), ENTRY(gelu_backward), ENTRY(quick_gelu_backward), ENTRY(sum),
      ENTRY(mean), ENTRY(sum_all), ENTRY(softmax), ENTRY(log_softmax), ENTRY(softmax_backward),
      ENTRY(log_softmax_backward), ENTRY(cross_entropy), ENTRY(cross_entropy_backward), ENTRY(layer_norm),
      ENTRY(layer_norm_backward), ENTRY(l2_normalize), ENTRY(l2_normalize_backward), ENTRY(permute), ENTRY(concat),
      ENTRY(narrow), ENTRY(narrow_backward), ENTRY(index_rows), ENTRY(embedding), ENTRY(embedding_backward),
      ENTRY(gather_rows), ENTRY(gather_rows_backward), ENTRY(avg_pool2d), ENTRY(avg_pool2d_backward),
      ENTRY(adamw_update), ENTRY(sum_squares), ENTRY(sum_squares_of)};
#undef ENTRY
  for (const auto& [name, filled] : entries) EXPECT_TRUE(filled) << name << " has no CUDA kernel";
#endif
}

}  // namespace
}  // namespace clipgrad
