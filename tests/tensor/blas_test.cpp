// GEMM through OpenBLAS against a naive loop, for every transpose and for the
// kernels this process runs (the same ones the clipgrad binary selects); the
// bf16 GEMM against its definition.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/ops/linalg.h"
#include "tensor/random.h"

using namespace clipgrad;

TEST(Blas, RunsTheFastKernelsThisCpuSupports) {
  EXPECT_FALSE(cpu::blas_kernel_name().empty());
  auto lower = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  const std::string running = lower(cpu::blas_kernel_name());
  // tests/test_main.cpp, like the clipgrad binary, re-executes with the best
  // family when OpenBLAS fell back to its SSE3 kernels; a user's own
  // OPENBLAS_CORETYPE is left alone.
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE")) {
    EXPECT_EQ(running, lower(forced)) << "OPENBLAS_CORETYPE=" << forced << " was not honoured";
    return;
  }
  const std::vector<std::string> fast = cpu::blas_kernels_for_this_cpu();
  if (fast.empty()) GTEST_SKIP() << "this CPU has no AVX2: OpenBLAS's generic kernels are its best";
  bool accepted = false;
  for (const std::string& family : fast) accepted = accepted || running == lower(family);
  EXPECT_TRUE(accepted) << "OpenBLAS runs " << running << " where this CPU supports " << ::testing::PrintToString(fast);
}

TEST(Blas, GemmMatchesNaiveLoopForEveryTranspose) {
  Generator generator(3);
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 5, 3}, {64, 33, 130}, {200, 96, 257}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        Tensor a = Tensor::empty({m * k}), b = Tensor::empty({k * n}), c = Tensor::full({m * n}, 0.5f);
        fill_normal(a, 0, 1, generator);
        fill_normal(b, 0, 1, generator);
        Tensor expected = c.clone();
        const float *pa = a.data<float>(), *pb = b.data<float>();
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = 0;
            for (int64_t p = 0; p < k; ++p)
              sum += double(ta ? pa[p * m + i] : pa[i * k + p]) * (tb ? pb[j * k + p] : pb[p * n + j]);
            expected.data<float>()[i * n + j] = float(2.0 * sum + 0.25 * 0.5);
          }
        cpu::blas_gemm<float>(ta, tb, m, n, k, 2.0f, pa, pb, 0.25f, c.data<float>());
        for (int64_t e = 0; e < m * n; ++e)
          ASSERT_NEAR(c.data<float>()[e], expected.data<float>()[e], 1e-3 * (1 + std::abs(expected.data<float>()[e])))
              << "m=" << m << " n=" << n << " k=" << k << " trans_a=" << ta << " trans_b=" << tb;
      }
    }
  }
}

// The CPU's bf16 GEMM is, by definition, the f32 GEMM of its operands widened
// (exactly) to f32, with a bf16 c widened first and the result rounded once:
// the reference the tensor cores' bf16 path is compared with.
TEST(Blas, Bfloat16GemmIsTheFloat32GemmOfItsWidenedOperands) {
  Generator generator(5);
  auto random_bf16 = [&](int64_t n) {
    Tensor t = Tensor::empty({n});
    fill_normal(t, 0, 1, generator);
    return t.to(DType::BF16);
  };
  const ops::GemmArgs g{.trans_b = true,
                        .batch = 2,
                        .m = 70,
                        .n = 9,
                        .k = 130,
                        .stride_a = 70 * 130,
                        .stride_b = 0,
                        .stride_c = 70 * 9,
                        .alpha = 1.5,
                        .beta = 0.5};
  const Tensor a = random_bf16(2 * 70 * 130), b = random_bf16(9 * 130);
  for (DType out : {DType::F32, DType::BF16}) {
    Tensor c = random_bf16(2 * 70 * 9).to(DType::F32).to(out);
    Tensor reference = c.to(DType::F32);
    ops::gemm(g, a.to(DType::F32), b.to(DType::F32), reference);
    ops::gemm(g, a, b, c);
    ASSERT_EQ(c.dtype(), out);
    const Tensor expected = reference.to(out);
    EXPECT_EQ(std::memcmp(c.raw_data(), expected.raw_data(), c.nbytes()), 0) << dtype_name(out);
  }
}
