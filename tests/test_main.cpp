// Every test binary's main: the same OpenBLAS kernels as the clipgrad binary
// (tensor/cpu/gemm.h), so the parity tests check the code path users run.
#include <gtest/gtest.h>

#include "tensor/cpu/gemm.h"

int main(int argc, char** argv) {
  clipgrad::cpu::use_fast_blas_kernels(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
