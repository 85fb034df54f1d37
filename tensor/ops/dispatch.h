// The one place where raw ops meet devices: kernel() checks that an op's
// tensors share one device and returns that device's entry for the op.
//
//   Tensor add(const Tensor& a, const Tensor& b) { return kernel("add", &Kernels::add, {&a, &b})(a, b); }
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "tensor/ops/kernels.h"

namespace clipgrad::ops {

// The table of a device: the CPU's always; in a CUDA build, CUDA's from
// tensor/cuda/ on first use, unless one was installed (throws, saying why,
// without CUDA or without a GPU).
const Kernels& kernels_for(Device device);
// Replaces the CUDA table (not owned), e.g. with one a test fills.
void install_kernels(Device device, const Kernels* kernels);

// The device all defined tensors share; throws naming the op when they differ
// (a CPU tensor mixed with a CUDA one) or when none is defined.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);
Device common_device(const char* op, const std::vector<Tensor>& tensors);

// Throws: `op` has no kernel on `device` in this build.
[[noreturn]] void throw_missing_kernel(const char* op, Device device);

template <class Fn, class Tensors>
Fn kernel(const char* op, Fn Kernels::*entry, const Tensors& tensors) {
  const Device device = common_device(op, tensors);
  Fn fn = kernels_for(device).*entry;
  if (!fn) throw_missing_kernel(op, device);
  return fn;
}
template <class Fn>
Fn kernel(const char* op, Fn Kernels::*entry, std::initializer_list<const Tensor*> tensors) {
  return kernel<Fn, std::initializer_list<const Tensor*>>(op, entry, tensors);
}

}  // namespace clipgrad::ops
