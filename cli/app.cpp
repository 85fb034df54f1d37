#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/commands/commands.h"
#include "tensor/cpu/gemm.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

namespace clipgrad::cli {

namespace {

// `clipgrad --version`: the build and what runs its CUDA code.
std::string version_text() {
  std::string cuda = "not built (configure with -DCLIPGRAD_CUDA=ON for a GPU, or EMULATE to run it on the CPU)";
#ifdef CLIPGRAD_HAVE_CUDA
  cuda = cuda::backend_description();
#endif
  return std::string("clipgrad, commit ") + CLIPGRAD_COMMIT + "\nCUDA: " + cuda + "\nCPU GEMM: OpenBLAS, " +
         cpu::blas_kernel_name() + " kernels";
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"clipgrad: CLIP training, backdoor attacks and the CleanCLIP defence, from scratch"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(1);
  register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const std::exception& error) {
    std::cerr << "clipgrad: " << error.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace clipgrad::cli
