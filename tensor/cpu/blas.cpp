#include "tensor/cpu/blas.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>

namespace clipgrad {

std::string blas_kernel_name() {
  const char* name = openblas_get_corename();
  return name ? name : "";
}

std::string blas_kernel_for_this_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

void use_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice stands
  std::string running = blas_kernel_name(), best = blas_kernel_for_this_cpu();
  bool generic = running == "Prescott" || running == "Core2" || running == "Nehalem" || running == "Sandybridge";
  if (best.empty() || !generic) return;
  setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the slow kernels
}

}  // namespace clipgrad
