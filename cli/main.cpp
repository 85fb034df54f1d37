#include "cli/app.h"
#include "tensor/cpu/blas.h"

int main(int argc, char** argv) {
  clipgrad::use_fast_blas_kernels(argv);
  return clipgrad::cli::run(argc, argv);
}
