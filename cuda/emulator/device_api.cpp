// The device functions of device_api.h: each records what the calling
// thread waits for, suspends its fiber, and returns what the block computed
// for it when it is released.
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/emulator/block.h"

constinit thread_local uint3 threadIdx{};
constinit thread_local uint3 blockIdx{};
constinit thread_local dim3 blockDim{};
constinit thread_local dim3 gridDim{};

namespace clipgrad::cuda::emulator {

namespace {

[[noreturn]] void outside_a_kernel(const char* what) {
  throw std::logic_error(std::string(what) +
                         " called outside a kernel (the emulator runs device code only in a launch)");
}

// The calling fiber's thread; device code called from host code is a bug.
template <class Name>
detail::ThreadState& self(Name what) {
  detail::ThreadState* thread = detail::current_thread();
  if (!thread) [[unlikely]] {
    if constexpr (std::is_invocable_v<Name>)
      outside_a_kernel(what());
    else
      outside_a_kernel(what);
  }
  return *thread;
}

}  // namespace

int block_barrier(BarrierKind kind, int predicate, std::source_location where) {
  detail::ThreadState& thread = self([kind] { return detail::barrier_name(kind); });
  thread.wait = detail::Wait::Barrier;
  thread.barrier = kind;
  thread.predicate = predicate != 0;
  thread.site = where;
  detail::current_block()->wait(thread);
  return thread.barrier_result;
}

uint64_t warp_collective(Collective op, unsigned mask, uint64_t value, unsigned value_bytes, int lane_argument,
                         int width, std::source_location where) {
  detail::ThreadState& thread = self([op] { return detail::collective_name(op); });
  thread.op = op;
  thread.mask = mask;
  thread.value = value;
  thread.value_bytes = value_bytes;
  thread.lane_argument = lane_argument;
  thread.width = width;
  thread.site = where;
  detail::current_block()->check_collective(thread);
  thread.wait = detail::Wait::Warp;
  detail::current_block()->wait(thread);
  return thread.result;
}

unsigned active_lanes() { return detail::current_block()->active_lanes(self("__activemask")); }

void* dynamic_shared_memory_base() {
  self("dynamic shared memory (CLIPGRAD_DYNAMIC_SHARED)");
  return detail::current_block()->dynamic_shared();
}

void trap(std::source_location where) {
  self("__trap");
  throw detail::DeviceFault(cudaErrorIllegalInstruction, "__trap() at " + detail::site_name(where));
}

}  // namespace clipgrad::cuda::emulator
