// Device selection and properties. Plain C++ API (no CUDA headers).
#pragma once

#include <cstddef>
#include <string>

namespace clipgrad::cuda {

struct DeviceProperties {
  std::string name;         // "NVIDIA H200"
  int multiprocessors = 0;  // SM count
  int compute_major = 0, compute_minor = 0;
  size_t total_memory = 0;  // bytes
  size_t l2_cache_bytes = 0;
};

// Makes `device` current for this thread; throws naming the devices there are.
// Call it before the first CUDA tensor: the streams and the allocator's blocks
// belong to the device that was current when they were first used.
void set_device(int device);
int current_device();
DeviceProperties device_properties(int device);
// Free and total bytes on the current device (cudaMemGetInfo).
void memory_info(size_t& free_bytes, size_t& total_bytes);
// "NVIDIA H200 (sm_90, 132 SMs, 140 GiB)": one line for logs.
std::string describe_device(int device);

}  // namespace clipgrad::cuda
