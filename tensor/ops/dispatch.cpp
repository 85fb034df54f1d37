#include "tensor/ops/dispatch.h"

#include <stdexcept>

#include "tensor/cpu/kernels.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "tensor/cuda/kernels.h"
#endif

namespace clipgrad::ops {

namespace {

const Kernels* g_cuda_kernels = nullptr;

template <class Range>
Device common_device_of(const char* op, const Range& tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* tensor : tensors) {
    if (!tensor->defined()) continue;
    if (!first) {
      first = tensor;
    } else if (tensor->device() != first->device()) {
      throw std::invalid_argument(std::string(op) + ": operands are on different devices (" +
                                  device_name(first->device()) + " and " + device_name(tensor->device()) +
                                  "); move them to one with to(Device)");
    }
  }
  if (!first) throw std::invalid_argument(std::string(op) + ": no defined operand");
  return first->device();
}

}  // namespace

const Kernels& kernels_for(Device device) {
  if (device == Device::CPU) return cpu::kernels();
#ifdef CLIPGRAD_HAVE_CUDA
  // The CUDA backend's table on first use (tensor/cuda/kernels.h says why a call, not a static initialiser).
  if (!g_cuda_kernels) g_cuda_kernels = &cuda_backend::kernels();
#else
  if (!g_cuda_kernels)
    throw std::runtime_error("this clipgrad was built without CUDA (configure with -DCLIPGRAD_CUDA=ON)");
#endif
  return *g_cuda_kernels;
}

void install_kernels(Device device, const Kernels* kernels) {
  if (device == Device::CPU) throw std::logic_error("install_kernels: the CPU table is fixed");
  g_cuda_kernels = kernels;
}

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  return common_device_of(op, tensors);
}

Device common_device(const char* op, const std::vector<Tensor>& tensors) {
  std::vector<const Tensor*> pointers;
  for (const Tensor& tensor : tensors) pointers.push_back(&tensor);
  return common_device_of(op, pointers);
}

void throw_missing_kernel(const char* op, Device device) {
  throw std::runtime_error(std::string(op) + " has no " + device_name(device) + " kernel in this version");
}

}  // namespace clipgrad::ops
