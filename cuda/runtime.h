// CUDA runtime helpers used by tensor/ for device storage (the memory itself
// comes from cuda/caching_allocator.h). Plain C++ API:
// callers never include CUDA headers. Every CUDA call is checked and throws
// std::runtime_error with file:line and CUDA's error string.
#pragma once

#include <cstddef>
#include <string>

namespace clipgrad::cuda {

// What runs clipgrad's CUDA code in this build, in one line: an NVIDIA GPU
// through the CUDA runtime, or the CPU through the SIMT emulator.
std::string backend_description();

int device_count();  // 0 when no driver or no device, never throws
bool available();    // device_count() > 0

void device_memset_zero(void* pointer, size_t bytes);
// Zeroes and copies run on the compute stream (cuda/stream.h), ordered with
// the kernels. A copy that touches host memory returns when it is done; a
// device-to-device copy is only queued. A copy to the host throws
// std::out_of_range when a kernel before it met a bad index (cuda/bad_indices.h).
void memcpy(void* destination, bool destination_on_device, const void* source, bool source_on_device, size_t bytes);
void synchronize();

}  // namespace clipgrad::cuda
