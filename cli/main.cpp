#include "cli/app.h"
#include "tensor/cpu/gemm.h"

int main(int argc, char** argv) {
  clipgrad::cpu::use_fast_blas_kernels(argv);
  return clipgrad::cli::run(argc, argv);
}
