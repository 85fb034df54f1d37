// Which OpenBLAS kernels run, and a way to get the fast ones.
//
// OpenBLAS picks its kernels when it loads, from the CPU model. Debian 12's
// 0.3.21 does not know recent Xeons (e.g. family 6 model 207) and falls back
// to its SSE3 "Prescott" kernels: SGEMM at 1024^3 runs at 22 GFLOP/s there
// instead of 107 with the AVX-512 "SkylakeX" kernels on the same 2 cores. The
// choice can only be made through OPENBLAS_CORETYPE before the library loads.
#pragma once

#include <string>

namespace clipgrad {

// The kernel family OpenBLAS runs ("Prescott", "Haswell", "SkylakeX", ...).
std::string blas_kernel_name();

// The family this CPU supports best among those OpenBLAS 0.3.21 has:
// "SkylakeX" with AVX-512 (F, BW, DQ, VL), "Haswell" with AVX2 and FMA, else "".
std::string blas_kernel_for_this_cpu();

// When OPENBLAS_CORETYPE is unset and OpenBLAS fell back to a generic kernel
// that this CPU can beat, sets OPENBLAS_CORETYPE and re-executes the program
// (argv as given to main) so that OpenBLAS loads with the right kernels.
// Returns normally when nothing needs to change or the re-exec fails.
void use_fast_blas_kernels(char** argv);

}  // namespace clipgrad
