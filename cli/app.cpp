#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>

#include "cli/commands/commands.h"
#include "io/json.h"
#include "tensor/cpu/gemm.h"
#include "tensor/tensor.h"
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

// The command line after "clipgrad", for naming what ran out of memory; one line, bounded.
std::string command_line(int argc, char** argv) {
  std::string line;
  for (int i = 1; i < argc && line.size() < 240; ++i) line += (line.empty() ? "" : " ") + std::string(argv[i]);
  return io::excerpt(line, 240);
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"clipgrad: CLIP training, backdoor attacks and the CleanCLIP defence, from scratch"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(1);
  // One line, as every other error: CLI11's default adds a second ("Run with --help ...").
  app.failure_message([](const CLI::App*, const CLI::Error& error) {
    return "clipgrad: " + std::string(error.what()) + " (--help lists the flags)\n";
  });
  register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const std::bad_alloc& error) {
    // OutOfMemory (tensors, and operator new in this binary) says how much was asked for.
    std::cerr << "clipgrad: " << (dynamic_cast<const OutOfMemory*>(&error) ? error.what() : "out of memory")
              << " running '" << command_line(argc, argv) << "'; give it smaller inputs or settings\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "clipgrad: " << error.what() << "\n";
    return 1;
  }
  // What a command printed is its result too (`eval > results.txt` on a full disk).
  std::cout.flush();
  if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::cerr << "clipgrad: writing the results to stdout failed: " << std::strerror(errno) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace clipgrad::cli
