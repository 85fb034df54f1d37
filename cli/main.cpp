#include <cstdlib>
#include <new>

#include "cli/app.h"
#include "tensor/cpu/gemm.h"
#include "tensor/tensor.h"

// Every allocation of the binary that fails says how many bytes it asked for:
// the one-line error (cli/app.cpp) names it with the command. Sanitizer builds
// keep their runtime's own operator new, which tracks allocations.
#if !defined(CLIPGRAD_SANITIZE) && !defined(__SANITIZE_ADDRESS__)
void* operator new(std::size_t bytes) {
  if (void* pointer = std::malloc(bytes == 0 ? 1 : bytes)) return pointer;
  throw clipgrad::OutOfMemory(bytes, "host memory");
}
void* operator new[](std::size_t bytes) { return ::operator new(bytes); }
#endif

int main(int argc, char** argv) {
  clipgrad::cpu::use_fast_blas_kernels(argv);
  return clipgrad::cli::run(argc, argv);
}
