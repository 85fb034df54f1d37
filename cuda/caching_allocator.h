// Device memory for tensors: a BlockPool (cuda/block_pool.h) over cudaMalloc
// and cudaFree, one per process, for the current device. tensor/ wraps it in
// its Allocator interface (allocator_for(Device::CUDA)). Plain C++ API.
#pragma once

#include <cstddef>

#include "cuda/block_pool.h"

namespace clipgrad::cuda {

void* cached_allocate(size_t bytes);  // throws std::bad_alloc when the device is full
void cached_deallocate(void* block) noexcept;
BlockPoolStats allocator_stats();
// Waits for the device, then returns every cached block to CUDA (cudaFree).
void empty_cache();

}  // namespace clipgrad::cuda
