// The one place where raw ops meet devices: kernel<op>() checks that an op's
// tensors share one device and returns that device's kernel for the op.
//
//   Tensor add(const Tensor& a, const Tensor& b) { return kernel<RawOp::add>({&a, &b})(a, b); }
#pragma once

#include <initializer_list>
#include <vector>

#include "tensor/ops/kernels.h"

namespace clipgrad::ops {

// The table of a device: the CPU's always; in a CUDA build, CUDA's, filled
// on first use (throws, saying why, on a machine without a GPU).
const Kernels& kernels_for(Device device);

// The device all defined tensors share; throws naming the op when they differ
// (a CPU tensor mixed with a CUDA one) or when none is defined.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);
Device common_device(const char* op, const std::vector<Tensor>& tensors);

template <RawOp op, class Tensors>
auto kernel(const Tensors& tensors) {
  return kernels_for(common_device(op_name(op), tensors)).*KernelEntry<op>::member;
}
template <RawOp op>
auto kernel(std::initializer_list<const Tensor*> tensors) {
  return kernel<op, std::initializer_list<const Tensor*>>(tensors);
}

}  // namespace clipgrad::ops
