// What the host API (runtime.cpp) tells launches (grid.cpp) about kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/emulator/shared_memory.h"

namespace clipgrad::cuda::emulator::detail {

constexpr size_t kDefaultSharedLimit = 48 * 1024;             // dynamic shared memory without the attribute
constexpr size_t kOptinSharedLimit = SharedArena::kCapacity;  // sm_90's most, with it

// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), bytes <= kOptinSharedLimit.
void set_dynamic_shared_limit(const void* kernel, size_t bytes);

// The number of launches since the schedule was last set (so that a shuffled
// seed gives the same orders to the same sequence of launches).
uint64_t take_launch_number();

}  // namespace clipgrad::cuda::emulator::detail
