// GEMM through OpenBLAS against a naive loop, for every transpose and for the
// kernels this process runs (the same ones the clipgrad binary selects).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "tensor/cpu/gemm.h"
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
