// The emulated device's memory: every cudaMalloc and cudaHostAlloc block, in
// one registry, so that a launch can refuse a pointer argument that points
// anywhere else, and a copy can refuse a device range that leaves its block.
// Device blocks are host memory (aligned to 256 bytes like cudaMalloc's),
// filled with 0xff when allocated; their total is held to memory_capacity().
#pragma once

#include <cstddef>
#include <optional>

namespace clipgrad::cuda::emulator::detail {

enum class MemoryKind { Device, PinnedHost };

struct Allocation {
  const unsigned char* base;
  size_t bytes;
  MemoryKind kind;
};

// Null when the device is full (device memory) or malloc fails.
void* allocate(size_t bytes, MemoryKind kind);
// False when pointer is not the start of a live block of that kind.
bool release(void* pointer, MemoryKind kind);
// The live block holding pointer, its one-past-the-end address included
// (an empty range at a block's end is a valid argument).
std::optional<Allocation> find_allocation(const void* pointer);
// True when pointer is in one of the blocks freed last (they are held back
// from reuse for a while: 64 MiB of them).
bool recently_freed(const void* pointer);
// True when [pointer, pointer + bytes) lies inside one live block of `kind`.
bool inside(const void* pointer, size_t bytes, MemoryKind kind);
size_t device_bytes_in_use();

}  // namespace clipgrad::cuda::emulator::detail
