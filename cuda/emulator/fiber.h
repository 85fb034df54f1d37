// Fibers: a kernel thread's own stack and saved registers, switched with
// Boost.Context's fcontext (make_fcontext / jump_fcontext: a few instructions
// that save the callee-saved registers and the stack pointer, no system call;
// README.md has the measurement against ucontext). Under AddressSanitizer
// every switch is announced with __sanitizer_start/finish_switch_fiber, so
// ASan knows which stack is live.
//
// Stacks come from a per-OS-thread pool (StackPool): mmap'd once, with a
// PROT_NONE guard page below each (an overflow faults at once instead of
// writing over a neighbour), and reused by every later fiber on that thread.
#pragma once

#include <cstddef>
#include <vector>

namespace clipgrad::cuda::emulator::detail {

struct Stack {
  void* base = nullptr;  // lowest usable byte (the guard page is just below)
  size_t size = 0;
};

class StackPool {
 public:
  explicit StackPool(size_t stack_bytes) : stack_bytes_(stack_bytes) {}
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  Stack acquire();
  void release(Stack stack);
  size_t stack_bytes() const { return stack_bytes_; }

 private:
  size_t stack_bytes_;
  std::vector<Stack> free_;
  std::vector<Stack> all_;
};

class Fiber {
 public:
  using Entry = void (*)(void* argument);  // must not throw; returns when the fiber is done

  // Scheduler side. start() prepares a fresh fiber on `stack` (it runs
  // entry(argument) at its first resume); resume() runs it until it suspends
  // or returns.
  void start(Stack stack, Entry entry, void* argument);
  void resume();
  bool finished() const { return finished_; }
  Stack stack() const { return stack_; }

  // Fiber side: back to the scheduler that resumed it.
  void suspend();

 private:
  friend struct FiberAccess;  // fiber.cpp's fcontext entry point

  void* context_ = nullptr;    // where this fiber's registers are saved while it is suspended
  void* scheduler_ = nullptr;  // where the scheduler's are saved while this fiber runs
  Stack stack_;
  Entry entry_ = nullptr;
  void* argument_ = nullptr;
  bool finished_ = false;
};

}  // namespace clipgrad::cuda::emulator::detail
