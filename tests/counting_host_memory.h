// Host memory that counts what it hands out: a stand-in for the page-locked
// memory of DeviceUpload::host_memory(CUDA) in CPU tests of whoever allocates
// from an Allocator given to them (the loaders' batch_memory). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "tensor/tensor.h"

namespace clipgrad::testing {

class CountingHostMemory final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    ++allocations;
    return allocator_for(Device::CPU).allocate(bytes);
  }
  void deallocate(void* pointer, size_t bytes) noexcept override {
    ++deallocations;
    allocator_for(Device::CPU).deallocate(pointer, bytes);
  }
  std::atomic<int64_t> allocations = 0, deallocations = 0;
};

}  // namespace clipgrad::testing
