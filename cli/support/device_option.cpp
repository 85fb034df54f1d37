#include "cli/support/device_option.h"

#include <stdexcept>

namespace clipgrad::cli {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name != "cuda") throw std::runtime_error("--device " + name + ": expected cpu or cuda");
  try {
    allocator_for(Device::CUDA);  // the one place that knows whether CUDA tensors can be made here
  } catch (const std::exception& error) {
    throw std::runtime_error(std::string("--device cuda: ") + error.what());
  }
  return Device::CUDA;
}

}  // namespace clipgrad::cli
