// The devices' kernel tables, filled from the op list (tensor/ops/op_list.h)
// with each backend's kernel of the same name: cpu::layer_norm, cuda::layer_norm.
// A backend that lacks a kernel of the list fails to link, naming it
// (undefined reference to clipgrad::cuda::layer_norm), so no table can be
// short of an op without the build saying so.
#include "tensor/ops/dispatch.h"

#include <mutex>
#include <stdexcept>
#include <string>

#include "tensor/cpu/kernels.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#include "tensor/cuda/kernels.h"
#endif

namespace clipgrad::ops {

namespace {

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

const Kernels& cpu_table() {
  static const Kernels table{
#define CLIPGRAD_CPU_KERNEL(family, op) .op = &cpu::op,
      CLIPGRAD_RAW_OPS(CLIPGRAD_CPU_KERNEL)
#undef CLIPGRAD_CPU_KERNEL
  };
  return table;
}

#ifdef CLIPGRAD_HAVE_CUDA
// Filled on first use rather than by a static initialiser, so that a machine
// without a GPU fails here, with a message, and only if it asks for CUDA.
const Kernels& cuda_table() {
  static std::once_flag once;
  static Kernels table;
  std::call_once(once, [] {
    if (!cuda::available())
      throw std::runtime_error(
          "no CUDA device: this machine has no GPU or no NVIDIA driver; use the CPU (--device cpu)");
    table = Kernels{
#define CLIPGRAD_CUDA_KERNEL(family, op) .op = &cuda::op,
        CLIPGRAD_RAW_OPS(CLIPGRAD_CUDA_KERNEL)
#undef CLIPGRAD_CUDA_KERNEL
    };
  });
  return table;
}
#endif

}  // namespace

const char* op_name(RawOp op) {
  static constexpr const char* kNames[] = {
#define CLIPGRAD_OP_NAME(family, op) #op,
      CLIPGRAD_RAW_OPS(CLIPGRAD_OP_NAME)
#undef CLIPGRAD_OP_NAME
  };
  return kNames[static_cast<int>(op)];
}

const char* op_family(RawOp op) {
  static constexpr const char* kFamilies[] = {
#define CLIPGRAD_OP_FAMILY(family, op) #family,
      CLIPGRAD_RAW_OPS(CLIPGRAD_OP_FAMILY)
#undef CLIPGRAD_OP_FAMILY
  };
  return kFamilies[static_cast<int>(op)];
}

bool has_kernel(const Kernels& table, RawOp op) {
  switch (op) {
#define CLIPGRAD_OP_PRESENT(family, name) \
  case RawOp::name: return table.name != nullptr;
    CLIPGRAD_RAW_OPS(CLIPGRAD_OP_PRESENT)
#undef CLIPGRAD_OP_PRESENT
  }
  return false;
}

std::vector<std::string> missing_kernels(const Kernels& table) {
  std::vector<std::string> missing;
  for (RawOp op : kAllRawOps)
    if (!has_kernel(table, op)) missing.emplace_back(op_name(op));
  return missing;
}

const Kernels& kernels_for(Device device) {
  if (device == Device::CPU) return cpu_table();
#ifdef CLIPGRAD_HAVE_CUDA
  return cuda_table();
#else
  throw std::runtime_error("this clipgrad was built without CUDA (configure with -DCLIPGRAD_CUDA=ON)");
#endif
}

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  return common_device_of(op, tensors);
}

Device common_device(const char* op, const std::vector<Tensor>& tensors) {
  std::vector<const Tensor*> pointers;
  for (const Tensor& tensor : tensors) pointers.push_back(&tensor);
  return common_device_of(op, pointers);
}

}  // namespace clipgrad::ops
