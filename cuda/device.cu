#include "cuda/device.h"

#include "cuda/check.h"
#include "cuda/runtime.h"

namespace clipgrad::cuda {

void set_device(int device) {
  const int count = device_count();
  if (device < 0 || device >= count)
    throw std::invalid_argument("cuda device " + std::to_string(device) + " does not exist: this machine has " +
                                std::to_string(count) + " CUDA device(s)");
  CUDA_CHECK(cudaSetDevice(device));
}

int current_device() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

DeviceProperties device_properties(int device) {
  cudaDeviceProp raw{};
  CUDA_CHECK(cudaGetDeviceProperties(&raw, device));
  DeviceProperties properties;
  properties.name = raw.name;
  properties.multiprocessors = raw.multiProcessorCount;
  properties.compute_major = raw.major;
  properties.compute_minor = raw.minor;
  properties.total_memory = raw.totalGlobalMem;
  properties.l2_cache_bytes = static_cast<size_t>(raw.l2CacheSize);
  return properties;
}

void memory_info(size_t& free_bytes, size_t& total_bytes) { CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes)); }

std::string describe_device(int device) {
  const DeviceProperties p = device_properties(device);
  return p.name + " (sm_" + std::to_string(p.compute_major) + std::to_string(p.compute_minor) + ", " +
         std::to_string(p.multiprocessors) + " SMs, " + std::to_string(p.total_memory >> 30) + " GiB)";
}

}  // namespace clipgrad::cuda
