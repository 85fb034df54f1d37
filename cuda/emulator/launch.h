// emulator::launch: what cuda/launch.h calls instead of kernel<<<...>>> in an
// emulated build. It checks the launch as a GPU would (grid and block sizes,
// dynamic shared memory against the kernel's attribute) and what a GPU would
// fault on later (every pointer argument must be null or point into memory
// of the emulated device), then runs the grid: blocks in parallel on the
// CPU's cores, each block's threads as fibers (grid.cpp, block.cpp).
//
// It returns when the grid is done. Any refusal or fault throws KernelError
// from here, naming the kernel, its call site and the block and thread.
#pragma once

#include <cstddef>
#include <source_location>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>

#include "cuda/emulator/runtime_api.h"

namespace clipgrad::cuda::emulator {

// A launch the emulator refused or a kernel that faulted. code is the CUDA
// error a GPU would report (cudaErrorInvalidConfiguration for a bad launch,
// cudaErrorIllegalAddress for a bad pointer, cudaErrorLaunchFailure for a
// barrier or warp collective that cannot complete, ...).
class KernelError : public std::runtime_error {
 public:
  KernelError(cudaError_t code, const std::string& message) : std::runtime_error(message), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

// One launch, type-erased: run_thread(closure) runs the kernel for the
// calling fiber's thread.
struct Launch {
  const char* name;
  std::source_location where;
  const void* kernel;
  dim3 grid, block;
  size_t shared_bytes;
  void (*run_thread)(const void* closure);
  const void* closure;
};

// A kernel parameter of pointer type and its position in the parameter list.
struct PointerArgument {
  int index;
  const void* value;
};

// Checks the launch and its pointer arguments, then runs the grid (grid.cpp).
void run_grid(const Launch& launch, std::span<const PointerArgument> pointers);

template <class T>
constexpr bool is_data_pointer = std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>;

template <class... Params>
void launch(const char* name, std::source_location where, void (*kernel)(Params...), dim3 grid, dim3 block,
            size_t shared_bytes, std::type_identity_t<Params>... args) {
  struct Closure {
    void (*kernel)(Params...);
    std::tuple<Params...> args;  // each thread's call copies them: its own parameters, as on a GPU
  };
  const Closure closure{kernel, std::tuple<Params...>(args...)};
  PointerArgument pointers[sizeof...(Params) + 1];
  int count = 0, index = 0;
  (
      [&](const auto& argument) {
        if constexpr (is_data_pointer<std::decay_t<decltype(argument)>>)
          pointers[count++] = {index, static_cast<const void*>(argument)};
        ++index;
      }(args),
      ...);
  const Launch launch{name,
                      where,
                      reinterpret_cast<const void*>(kernel),
                      grid,
                      block,
                      shared_bytes,
                      [](const void* erased) {
                        const Closure& c = *static_cast<const Closure*>(erased);
                        std::apply(c.kernel, c.args);
                      },
                      &closure};
  run_grid(launch, std::span<const PointerArgument>(pointers, size_t(count)));
}

}  // namespace clipgrad::cuda::emulator
