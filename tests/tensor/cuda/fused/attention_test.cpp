// Fused attention (<= 257 keys) and its batched-GEMM fallback against the
// CPU twin, norm-relative: f32 1e-5 (dot products of hd terms and softmax
// sums of Lk terms in another order).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tensor/ops/attention.h"
#include "tests/tensor/cuda/cuda_vs_cpu.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "tensor/cuda/kernels.h"
#endif

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

// CLIP's text mask: 0 on and below the diagonal, -inf above.
Tensor causal_mask(int64_t length) {
  Tensor mask = Tensor::zeros({length, length});
  float* m = mask.data<float>();
  for (int64_t i = 0; i < length; ++i)
    for (int64_t j = i + 1; j < length; ++j) m[i * length + j] = -std::numeric_limits<float>::infinity();
  return mask;
}

struct AttentionCase {
  int64_t heads, queries, keys, head_dim;
  bool causal;
};

void expect_attention_matches(const AttentionCase& c) {
  SCOPED_TRACE("B " + std::to_string(c.heads) + " Lq " + std::to_string(c.queries) + " Lk " + std::to_string(c.keys) +
               " hd " + std::to_string(c.head_dim) + (c.causal ? " causal" : ""));
  Tensor q = random_tensor({c.heads, c.queries, c.head_dim}, 1), k = random_tensor({c.heads, c.keys, c.head_dim}, 2);
  Tensor v = random_tensor({c.heads, c.keys, c.head_dim}, 3);
  Tensor mask = c.causal ? causal_mask(c.queries) : Tensor();
  const double scale = 1.0 / std::sqrt(double(std::max<int64_t>(c.head_dim, 1)));
  Tensor want_probs, have_probs;
  Tensor want = ops::attention_heads(q, k, v, mask, scale, want_probs);
  Tensor have = ops::attention_heads(on_cuda(q), on_cuda(k), on_cuda(v), on_cuda(mask), scale, have_probs);
  EXPECT_LE(norm_relative_error(have, want), 1e-5) << "out";
  EXPECT_LE(norm_relative_error(have_probs, want_probs), 1e-5) << "probs";
  Tensor grad = random_tensor(want.shape(), 4);
  Tensor want_q = Tensor::empty_like(q), want_k = Tensor::empty_like(k), want_v = Tensor::empty_like(v);
  ops::attention_heads_backward(grad, q, k, v, want_probs, scale, &want_q, &want_k, &want_v);
  Tensor have_q = on_cuda(want_q), have_k = on_cuda(want_k), have_v = on_cuda(want_v);
  ops::attention_heads_backward(on_cuda(grad), on_cuda(q), on_cuda(k), on_cuda(v), have_probs, scale, &have_q, &have_k,
                                &have_v);
  EXPECT_LE(norm_relative_error(have_q, want_q), 1e-5) << "grad q";
  EXPECT_LE(norm_relative_error(have_k, want_k), 1e-5) << "grad k";
  EXPECT_LE(norm_relative_error(have_v, want_v), 1e-5) << "grad v";
}

}  // namespace

TEST(CudaAttention, FusedPathMatchesCpu) {
  SKIP_WITHOUT_GPU();
  // ViT-B/32 (50 tokens), the text tower (77, causal), odd sizes, a single key,
  // ViT-B/16 (197) and the fused limit (257); hd 64 as in CLIP, and odd ones.
  for (const AttentionCase& c : {AttentionCase{3, 50, 50, 64, false},
                                 {2, 77, 77, 64, true},
                                 {5, 7, 13, 9, false},
                                 {1, 1, 1, 1, false},
                                 {2, 33, 33, 40, true},
                                 {2, 197, 197, 64, false},
                                 {1, 257, 257, 64, true},
                                 {1, 40, 257, 32, false}}) {
    if (small_shapes_only() && c.keys > 100) continue;
#ifdef CLIPGRAD_HAVE_CUDA
    EXPECT_TRUE(cuda::attention_runs_fused(c.keys, c.head_dim));
#endif
    expect_attention_matches(c);
  }
}

TEST(CudaAttention, LongSequencesFallBackToBatchedGemm) {
  SKIP_WITHOUT_GPU();
  for (const AttentionCase& c :
       {AttentionCase{2, 300, 300, 64, true}, {1, 5, 258, 16, false}, {1, 3, 20, 2000, false}}) {
#ifdef CLIPGRAD_HAVE_CUDA
    EXPECT_FALSE(cuda::attention_runs_fused(c.keys, c.head_dim));
#endif
    expect_attention_matches(c);
  }
}

TEST(CudaAttention, OnlyTheGradientsAskedForAreWritten) {
  SKIP_WITHOUT_GPU();
  Tensor q = on_cuda(random_tensor({2, 5, 8}, 5)), k = on_cuda(random_tensor({2, 6, 8}, 6));
  Tensor v = on_cuda(random_tensor({2, 6, 8}, 7)), probs;
  Tensor out = ops::attention_heads(q, k, v, Tensor(), 0.3, probs);
  Tensor grad_k = Tensor::zeros({2, 6, 8}, DType::F32, Device::CUDA);
  ops::attention_heads_backward(on_cuda(random_tensor({2, 5, 8}, 8)), q, k, v, probs, 0.3, nullptr, &grad_k, nullptr);
  EXPECT_GT(norm_relative_error(grad_k, Tensor::zeros({2, 6, 8})), 0.0);
}
