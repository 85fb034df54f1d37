// cuBLASLt GEMM against the CPU twin (OpenBLAS): every transpose pair, odd
// sizes, strided batches with a shared (stride 0) operand, alpha/beta, views,
// empty dimensions, the bias epilogue, f64, and the TF32 switch. f32
// tolerance 1e-5 relative (sums of at most ~300 products in a different
// order: ~sqrt(k) * 6e-8); TF32 5e-3 (10 mantissa bits per product).
#include <gtest/gtest.h>

#include "tests/tensor/cuda/cuda_vs_cpu.h"
#include "tensor/precision.h"
#include "tensor/ops/linalg.h"

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

struct GemmCase {
  ops::GemmArgs args;
  DType dtype = DType::F32;
};

// Runs one case on both devices from the same inputs (c starts random so that beta matters).
double gemm_error(const GemmCase& test, uint64_t seed) {
  const ops::GemmArgs& g = test.args;
  auto span = [&](int64_t stride, int64_t rows, int64_t cols) { return (g.batch - 1) * stride + rows * cols; };
  Tensor a = random_tensor({span(g.stride_a, g.m, g.k)}, seed, 1.0, test.dtype);
  Tensor b = random_tensor({span(g.stride_b, g.k, g.n)}, seed + 1, 1.0, test.dtype);
  Tensor c = random_tensor({span(g.stride_c, g.m, g.n)}, seed + 2, 1.0, test.dtype);
  Tensor cuda_a = on_cuda(a), cuda_b = on_cuda(b), cuda_c = on_cuda(c);
  ops::gemm(g, a, b, c);
  ops::gemm(g, cuda_a, cuda_b, cuda_c);
  return norm_relative_error(cuda_c, c);
}

ops::GemmArgs single(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  return {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k};
}

}  // namespace

TEST(CudaGemm, EveryTransposeOnOddSizes) {
  SKIP_WITHOUT_GPU();
  uint64_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [m, n, k] : {std::tuple{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {129, 255, 31}, {64, 64, 300}}) {
        SCOPED_TRACE("ta " + std::to_string(ta) + " tb " + std::to_string(tb) + " m " + std::to_string(m) + " n " +
                     std::to_string(n) + " k " + std::to_string(k));
        EXPECT_LE(gemm_error({single(ta, tb, m, n, k)}, seed += 3), 1e-5);
      }
}

TEST(CudaGemm, AlphaBetaAndStridedBatches) {
  SKIP_WITHOUT_GPU();
  // Attention's shapes: [B, L, hd] @ [B, L, hd]^T with B = heads x batch.
  ops::GemmArgs scores{.trans_b = true,
                       .batch = 12,
                       .m = 50,
                       .n = 50,
                       .k = 64,
                       .stride_a = 50 * 64,
                       .stride_b = 50 * 64,
                       .stride_c = 50 * 50,
                       .alpha = 0.125};
  EXPECT_LE(gemm_error({scores}, 10), 1e-5);
  ops::GemmArgs accumulate{.trans_a = true,
                           .batch = 3,
                           .m = 9,
                           .n = 11,
                           .k = 13,
                           .stride_a = 13 * 9,
                           .stride_b = 13 * 11,
                           .stride_c = 9 * 11,
                           .alpha = -2.0,
                           .beta = 0.5};
  EXPECT_LE(gemm_error({accumulate}, 20), 1e-5);
  // A shared b (stride 0), as matmul's transposed-a case uses.
  ops::GemmArgs shared_b{
      .trans_a = true, .batch = 4, .m = 6, .n = 7, .k = 5, .stride_a = 30, .stride_b = 0, .stride_c = 42, .beta = 1.0};
  EXPECT_LE(gemm_error({shared_b}, 30), 1e-5);
  // Padded strides: matrices that do not touch, each at an odd offset.
  ops::GemmArgs gapped{.batch = 3, .m = 5, .n = 3, .k = 4, .stride_a = 23, .stride_b = 13, .stride_c = 17};
  EXPECT_LE(gemm_error({gapped}, 40), 1e-5);
}

TEST(CudaGemm, Float64) {
  SKIP_WITHOUT_GPU();
  EXPECT_LE(gemm_error({single(false, true, 37, 29, 41), DType::F64}, 50), 1e-13);
  EXPECT_LE(gemm_error({single(true, false, 8, 130, 3), DType::F64}, 60), 1e-13);
}

TEST(CudaGemm, EmptyDimensions) {
  SKIP_WITHOUT_GPU();
  // k = 0 leaves beta * c (beta 0: zeros), which OpenBLAS cannot be asked for
  // (it rejects a zero leading dimension): the expectation is written out.
  for (double beta : {0.0, 0.5}) {
    Tensor c = random_tensor({2 * 4 * 5}, 70);
    Tensor cuda_c = on_cuda(c);
    Tensor no_elements = Tensor::empty({0}, DType::F32, Device::CUDA);
    ops::gemm({.batch = 2, .m = 4, .n = 5, .k = 0, .stride_c = 20, .beta = beta}, no_elements, no_elements, cuda_c);
    std::vector<float> expected = c.to_vector<float>();
    for (float& value : expected) value = beta == 0.0 ? 0.f : float(value * beta);
    EXPECT_EQ(cuda_c.to(Device::CPU).to_vector<float>(), expected) << "beta " << beta;
  }
  // m or n = 0 writes nothing.
  EXPECT_LE(gemm_error({single(false, false, 0, 5, 3)}, 90), 0.0);
  EXPECT_LE(gemm_error({single(true, true, 4, 0, 3)}, 100), 0.0);
}

TEST(CudaGemm, ViewOperandAtAnOffset) {
  SKIP_WITHOUT_GPU();
  // c is rows [1, 4) of a [5, 6] matrix: a view whose start is 24 bytes in (not 256-aligned).
  Tensor a = random_tensor({3, 7}, 110), b = random_tensor({7, 6}, 111), whole = random_tensor({5, 6}, 112);
  Tensor cuda_whole = on_cuda(whole);
  Tensor cpu_view = whole.rows(1, 4), cuda_view = cuda_whole.rows(1, 4);
  ops::gemm(single(false, false, 3, 6, 7), a, b, cpu_view);
  ops::gemm(single(false, false, 3, 6, 7), on_cuda(a), on_cuda(b), cuda_view);
  EXPECT_LE(norm_relative_error(cuda_whole, whole), 1e-5);
}

TEST(CudaGemm, BiasEpilogueMatchesCpu) {
  SKIP_WITHOUT_GPU();
  // linear's product: out [rows, out] = x [rows, in] @ weight^T + bias.
  for (auto [rows, in, out] : {std::tuple{1, 1, 1}, {50, 768, 3072}, {77, 512, 512}, {13, 9, 130}}) {
    if (small_shapes_only() && in > 100) continue;
    const ops::GemmArgs g{.trans_b = true, .m = rows, .n = out, .k = in};
    for (DType dtype : {DType::F32, DType::F64}) {
      Tensor x = random_tensor({rows, in}, 120, 1.0, dtype), weight = random_tensor({out, in}, 121, 0.05, dtype);
      Tensor bias = random_tensor({out}, 122, 1.0, dtype);
      Tensor expected = Tensor::empty({rows, out}, dtype), got = Tensor::empty({rows, out}, dtype, Device::CUDA);
      ops::gemm_bias(g, x, weight, bias, expected);
      ops::gemm_bias(g, on_cuda(x), on_cuda(weight), on_cuda(bias), got);
      EXPECT_LE(norm_relative_error(got, expected), dtype == DType::F32 ? 1e-5 : 1e-13)
          << rows << "x" << in << "x" << out;
    }
  }
}

// bf16 operands, summed in f32, into an f32 or a bf16 c (rounded once): the
// tensor cores' mode. An f32 c differs from the CPU's only in the order of
// the f32 sums (1e-5); a bf16 c may then round an element the other way, by
// one bf16 step (2^-8 relative) where a sum sits near a rounding boundary.
TEST(CudaGemm, Bfloat16OperandsSumInFloat32) {
  SKIP_WITHOUT_GPU();
  auto bf16 = [](const Shape& shape, uint64_t seed) { return random_tensor(shape, seed).to(DType::BF16); };
  uint64_t seed = 200;
  for (DType out : {DType::F32, DType::BF16}) {
    const double tolerance = out == DType::F32 ? 1e-5 : 4e-3;
    for (const ops::GemmArgs& g : {single(false, true, 33, 17, 65), single(true, false, 7, 5, 300),
                                   ops::GemmArgs{.batch = 3,
                                   .m = 9,
                                   .n = 6,
                                   .k = 11,
                                   .stride_a = 99,
                                   .stride_b = 0,
                                   .stride_c = 54,
                                   .alpha = 0.5,
                                   .beta = 0.25}}) {
      SCOPED_TRACE(std::string(dtype_name(out)) + " m " + std::to_string(g.m) + " batch " + std::to_string(g.batch));
      const Tensor a = bf16({g.batch * g.m * g.k}, seed++), b = bf16({g.k * g.n}, seed++);
      Tensor c = random_tensor({g.batch * g.m * g.n}, seed++).to(out), cuda_c = on_cuda(c);
      ops::gemm(g, a, b, c);
      ops::gemm(g, on_cuda(a), on_cuda(b), cuda_c);
      EXPECT_EQ(cuda_c.dtype(), out);
      EXPECT_LE(norm_relative_error(cuda_c, c), tolerance);
    }
    // linear's product with the bias epilogue; x a view one bf16 element in (2-byte aligned).
    const ops::GemmArgs g{.trans_b = true, .m = 13, .n = 40, .k = 24};
    const Tensor x = bf16({13 * 24 + 1}, seed++).reshape({-1}).rows(1, 13 * 24 + 1);
    const Tensor weight = bf16({40, 24}, seed++), bias = random_tensor({40}, seed++).to(out);
    Tensor expected = Tensor::empty({13, 40}, out), got = Tensor::empty({13, 40}, out, Device::CUDA);
    ops::gemm_bias(g, x, weight, bias, expected);
    ops::gemm_bias(g, on_cuda(x), on_cuda(weight), on_cuda(bias), got);
    EXPECT_LE(norm_relative_error(got, expected), tolerance);
  }
}

TEST(CudaGemm, Tf32SwitchTradesPrecisionForSpeed) {
  SKIP_WITHOUT_GPU();
  const GemmCase big{single(false, true, 256, 256, 512)};
  EXPECT_LE(gemm_error(big, 130), 1e-5);
  set_tf32(true);
  const double tf32_error = gemm_error(big, 130);
  set_tf32(false);
  EXPECT_LE(tf32_error, 5e-3);
  EXPECT_GT(tf32_error, 1e-5) << "TF32 on should round the products to 10 mantissa bits";
  EXPECT_LE(gemm_error(big, 130), 1e-5) << "TF32 off again must give f32 products";
}

TEST(CudaGemm, RejectsMixedDtypes) {
  SKIP_WITHOUT_GPU();
  Tensor a = Tensor::zeros({2, 2}, DType::F32, Device::CUDA), b = Tensor::zeros({2, 2}, DType::F64, Device::CUDA);
  Tensor c = Tensor::zeros({2, 2}, DType::F32, Device::CUDA);
  EXPECT_THROW(ops::gemm(single(false, false, 2, 2, 2), a, b, c), std::invalid_argument);
}
