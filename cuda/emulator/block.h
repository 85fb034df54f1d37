// One block of a grid, run on one OS thread: every CUDA thread of the block
// is a fiber, and the block advances in phases. In a phase each runnable
// fiber is resumed once, in the schedule's order, and runs until it exits or
// reaches a synchronisation point (a __syncthreads or a warp collective),
// where it suspends. Between phases the block decides what is released:
//
//   1. warp collectives: a group completes when every lane its mask names
//      waits at a collective of the same kind with the same mask; results are
//      computed from the values all of them brought (warp.cpp);
//   2. otherwise a barrier: released when every thread of the block waits at
//      the same __syncthreads (same file, line and column) and none exited;
//   3. otherwise, if every thread has exited, the block is done;
//   4. otherwise no thread can ever continue: the block fails with what CUDA
//      leaves undefined (a barrier some threads skip or reach at another call
//      site, a collective naming a lane that exited or waits elsewhere).
//
// A failed block unwinds every suspended fiber (Abandoned is thrown from the
// synchronisation point it waits at, so destructors run) and throws
// BlockFault naming the block and thread; grid.cpp adds the kernel.
#pragma once

#include <cstdint>
#include <exception>
#include <source_location>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/emulator/controls.h"
#include "cuda/emulator/device_api.h"
#include "cuda/emulator/fiber.h"
#include "cuda/emulator/launch.h"
#include "cuda/emulator/shared_memory.h"

namespace clipgrad::cuda::emulator::detail {

enum class Wait : uint8_t { Runnable, Barrier, Warp, Exited };

// One CUDA thread of the running block.
struct ThreadState {
  uint3 index{};
  unsigned linear = 0;  // x + y * blockDim.x + z * blockDim.x * blockDim.y; warp = linear / 32
  Wait wait = Wait::Runnable;
  bool started = false;
  bool abandon = false;       // the block failed: unwind at the next resume
  std::source_location site;  // where it waits
  // at a barrier (__syncthreads and its _count, _and, _or)
  BarrierKind barrier = BarrierKind::Sync;
  int predicate = 0, barrier_result = 0;
  // at a warp collective
  Collective op = Collective::SyncWarp;
  unsigned mask = 0;
  int lane_argument = 0, width = 32;
  unsigned value_bytes = 0;
  uint64_t value = 0, result = 0;
  std::exception_ptr error;  // what the kernel code threw on this thread
  Fiber fiber;
};

// A fault found on a fiber by the emulator's device functions.
class DeviceFault : public std::runtime_error {
 public:
  DeviceFault(cudaError_t code, const std::string& message) : std::runtime_error(message), code(code) {}
  cudaError_t code;
};

// A failed block: "block (1,0,0) thread (37,0,0): what went wrong".
class BlockFault : public std::runtime_error {
 public:
  BlockFault(cudaError_t code, const std::string& message) : std::runtime_error(message), code(code) {}
  cudaError_t code;
};

// Thrown into a suspended fiber to unwind it when its block has failed. Not
// a std::exception, so kernel code that catches those does not stop it.
struct Abandoned {};

class BlockRun {
 public:
  BlockRun(StackPool& stacks, SharedArena& shared) : stacks_(stacks), shared_(shared) {}
  void run(const Launch& launch, uint3 block_index, const Schedule& schedule, uint64_t seed);

  // Fiber side (device_api.cpp): the fiber of `self` suspends until the
  // block releases it.
  void wait(ThreadState& self);
  // Checks a collective as it is reached (mask, width, lanes that exited); throws DeviceFault.
  void check_collective(const ThreadState& self) const;
  unsigned active_lanes(const ThreadState& self) const;
  void* dynamic_shared() {
    shared_used_ = true;  // from now on its guards are checked after every switch
    return shared_.data();
  }

  std::string describe(const ThreadState& thread) const;  // "thread (37,0,0) (warp 1, lane 5)"
  void launch_run_thread() const;                         // the kernel, for the calling fiber's thread

 private:
  void reset_threads(const Launch& launch);
  void run_phase(const Schedule& schedule, uint64_t seed, unsigned phase);
  void step(ThreadState& thread);
  bool release_barrier();
  [[noreturn]] void fail_stalled() const;
  [[noreturn]] void fail(const ThreadState& thread, cudaError_t code, const std::string& what) const;
  void check_shared_guards(const ThreadState* thread, size_t span) const;
  void abandon_all();
  // warp.cpp
  bool complete_warp_collectives();
  bool group_ready(const ThreadState& leader) const;
  void complete_group(const ThreadState& leader);
  void diagnose_warps() const;  // throws BlockFault for a collective that can never complete
  ThreadState* lane(unsigned warp, unsigned lane);
  const ThreadState* lane(unsigned warp, unsigned lane) const;
  unsigned lanes_in_warp(unsigned warp) const;

  StackPool& stacks_;
  SharedArena& shared_;
  const Launch* launch_ = nullptr;
  uint3 block_index_{};
  std::vector<ThreadState> threads_;
  std::vector<uint32_t> order_;  // the phase's resume order (shuffled schedules)
  unsigned live_ = 0;            // threads that have not exited
  bool shared_used_ = false;     // a thread has asked for the dynamic shared memory
};

// The block and thread this OS thread is running (null outside a kernel).
BlockRun* current_block();
ThreadState* current_thread();

// "(1,0,0)"
std::string coordinates(uint3 index);
// "__syncthreads()" or "__shfl_xor_sync"
const char* barrier_name(BarrierKind kind);
const char* collective_name(Collective op);
// "file.cu:12"
std::string site_name(const std::source_location& site);
bool same_site(const std::source_location& a, const std::source_location& b);

}  // namespace clipgrad::cuda::emulator::detail
