// The emulator's switches. Each is read once from the environment and may be
// changed by a program or a test afterwards (thread-safe; takes effect at the
// next launch):
//
//   CLIPGRAD_EMU_SCHEDULE=forward|reverse|shuffled:SEED
//       the order in which a block's runnable fibers are resumed in each phase
//       (between barriers and warp collectives), and the order in which blocks
//       are handed to the workers. Default forward. A kernel whose output
//       depends on it has a race.
//   CLIPGRAD_EMU_THREADS=N   OS threads running blocks (default: the CPU's
//       hardware threads; 1 runs every block on the launching thread, in
//       schedule order: reproducible, and easiest in a debugger)
//   CLIPGRAD_EMU_STACK_KIB=K fiber stack size (default 64, 256 under ASan)
//   CLIPGRAD_EMU_MEMORY_MIB=M emulated device memory (default half of RAM)
//
// A malformed value throws std::invalid_argument at the first launch or
// allocation, naming the variable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace clipgrad::cuda::emulator {

enum class Order { Forward, Reverse, Shuffled };

struct Schedule {
  Order order = Order::Forward;
  uint64_t seed = 0;  // Shuffled only
  bool operator==(const Schedule&) const = default;
};

Schedule parse_schedule(std::string_view text);  // "forward", "reverse", "shuffled:42"; throws std::invalid_argument
std::string schedule_name(const Schedule& schedule);

Schedule schedule();
void set_schedule(const Schedule& schedule);
unsigned worker_threads();
void set_worker_threads(unsigned threads);  // at least 1
size_t fiber_stack_bytes();
size_t memory_capacity();  // bytes the emulated device has
void set_memory_capacity(size_t bytes);

// "SIMT emulator: 2 worker threads, schedule forward, 64 KiB fiber stacks"
std::string describe();

}  // namespace clipgrad::cuda::emulator
