// CUDA runtime helpers used by tensor/ for device storage. Plain C++ API:
// callers never include CUDA headers. Every CUDA call is checked and throws
// std::runtime_error with file:line and CUDA's error string.
#pragma once

#include <cstddef>

namespace clipgrad::cuda {

int device_count();  // 0 when no driver or no device, never throws
bool available();    // device_count() > 0

void* device_malloc(size_t bytes);
void device_free(void* pointer);
void device_memset_zero(void* pointer, size_t bytes);
// Copies bytes between host and device memory in either direction.
void memcpy(void* destination, bool destination_on_device, const void* source, bool source_on_device,
            size_t bytes);
void synchronize();

}  // namespace clipgrad::cuda
