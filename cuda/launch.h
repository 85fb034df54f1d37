// Every kernel launch of clipgrad goes through launch(): one place that
// starts a grid on the compute stream and checks it, in the GPU build and in
// the emulated one (-DCLIPGRAD_CUDA=EMULATE, where cuda/emulator/ runs the
// grid's threads on the CPU from the same kernel source).
//
//   launch("adamw", adamw_kernel<T>, {grid_for(n), kThreads}, param, grad, ..., n);
//
// The name and the call site (file:line, taken where launch is called) are
// in every error. A launch error (a bad configuration) throws at once. A
// fault inside the kernel surfaces only at a later synchronisation, in
// whatever op happens to wait; run with CLIPGRAD_CUDA_SYNC=1 to wait after
// every launch, so the fault is reported at the kernel that caused it (slow:
// for debugging and the device check only).
#pragma once

#include <cstddef>
#include <source_location>
#include <utility>

#include "cuda/api.h"
#include "cuda/stream.h"
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/launch.h"
#endif

namespace clipgrad::cuda {

// Blocks, threads per block and bytes of dynamic shared memory of one launch.
struct Geometry {
  dim3 grid;
  dim3 block;
  size_t shared_bytes = 0;
};

// A kernel's name and the place it is launched from (a string literal
// converts to it at the call site, which is what source_location records).
struct KernelSite {
  const char* name;
  std::source_location where;
  KernelSite(const char* kernel_name, std::source_location call_site = std::source_location::current())
      : name(kernel_name), where(call_site) {}
};

// Throws, naming the kernel and its call site, if the launch failed; with
// CLIPGRAD_CUDA_SYNC=1 first waits for the kernel to finish.
void check_launch(const KernelSite& site);

template <class... Params, class... Args>
void launch(const KernelSite& site, void (*kernel)(Params...), const Geometry& geometry, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: the kernel takes a different number of arguments");
#ifdef CLIPGRAD_CUDA_EMULATE
  emulator::launch(site.name, site.where, kernel, geometry.grid, geometry.block, geometry.shared_bytes,
                   Params(std::forward<Args>(args))...);
#else
  // clang-format reads a header as C++, where <<< >>> is not a launch:
  // clang-format off
  kernel<<<geometry.grid, geometry.block, geometry.shared_bytes, compute_stream()>>>(
      Params(std::forward<Args>(args))...);
  // clang-format on
#endif
  check_launch(site);
}

}  // namespace clipgrad::cuda
