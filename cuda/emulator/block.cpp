#include "cuda/emulator/block.h"

#include <cstdio>
#include <cstring>

#include "cuda/emulator/schedule.h"

namespace clipgrad::cuda::emulator::detail {

namespace {

// What the block and thread of this OS thread are (device_api.cpp reads them).
thread_local BlockRun* running_block = nullptr;
thread_local ThreadState* running_thread = nullptr;

// The fiber's whole life: the kernel, for one thread. An exception from the
// kernel code (or from the emulator's checks in it) is kept for the block to
// report; Abandoned only unwinds.
void run_thread(void* argument) {
  ThreadState& self = *static_cast<ThreadState*>(argument);
  try {
    running_block->launch_run_thread();
  } catch (const Abandoned&) {
  } catch (...) {
    self.error = std::current_exception();
  }
}

}  // namespace

BlockRun* current_block() { return running_block; }
ThreadState* current_thread() { return running_thread; }

std::string coordinates(uint3 index) {
  char text[48];
  std::snprintf(text, sizeof text, "(%u,%u,%u)", index.x, index.y, index.z);
  return text;
}

std::string site_name(const std::source_location& site) {
  return std::string(site.file_name()) + ":" + std::to_string(site.line());
}

bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

const char* barrier_name(BarrierKind kind) {
  switch (kind) {
    case BarrierKind::Sync: return "__syncthreads()";
    case BarrierKind::Count: return "__syncthreads_count()";
    case BarrierKind::And: return "__syncthreads_and()";
    case BarrierKind::Or: return "__syncthreads_or()";
  }
  return "__syncthreads()";
}

std::string BlockRun::describe(const ThreadState& thread) const {
  return "thread " + coordinates(thread.index) + " (warp " + std::to_string(thread.linear / 32) + ", lane " +
         std::to_string(thread.linear % 32) + ")";
}

void BlockRun::launch_run_thread() const { launch_->run_thread(launch_->closure); }

void BlockRun::reset_threads(const Launch& launch) {
  const dim3 size = launch.block;
  const unsigned count = size.x * size.y * size.z;
  threads_.resize(count);
  for (unsigned linear = 0; linear < count; ++linear) {
    ThreadState& thread = threads_[linear];
    thread.index = uint3{linear % size.x, (linear / size.x) % size.y, linear / (size.x * size.y)};
    thread.linear = linear;
    thread.wait = Wait::Runnable;
    thread.started = false;
    thread.abandon = false;
    thread.error = nullptr;
  }
  live_ = count;
}

void BlockRun::run(const Launch& launch, uint3 block_index, const Schedule& schedule, uint64_t seed) {
  launch_ = &launch;
  block_index_ = block_index;
  reset_threads(launch);
  blockIdx = block_index;
  blockDim = launch.block;
  gridDim = launch.grid;
  shared_.prepare(launch.shared_bytes);
  shared_used_ = false;
  running_block = this;
  try {
    for (unsigned phase = 0;; ++phase) {
      run_phase(schedule, seed, phase);
      if (complete_warp_collectives()) continue;
      if (release_barrier()) continue;
      if (live_ == 0) break;
      fail_stalled();
    }
    check_shared_guards(nullptr, SharedArena::kGuard);
  } catch (...) {
    abandon_all();
    running_block = nullptr;
    throw;
  }
  running_block = nullptr;
}

void BlockRun::run_phase(const Schedule& schedule, uint64_t seed, unsigned phase) {
  const uint64_t count = threads_.size();
  if (schedule.order == Order::Shuffled) shuffled(order_, count, mix(seed, phase));
  for (uint64_t k = 0; k < count; ++k) {
    ThreadState& thread = threads_[nth(schedule, order_, count, k)];
    if (thread.wait == Wait::Runnable) step(thread);
  }
}

// Resumes one fiber until it suspends or exits, then reports what it did wrong.
void BlockRun::step(ThreadState& thread) {
  threadIdx = thread.index;
  running_thread = &thread;
  if (!thread.started) {
    thread.started = true;
    thread.fiber.start(stacks_.acquire(), &run_thread, &thread);
  }
  thread.fiber.resume();
  running_thread = nullptr;
  if (thread.fiber.finished()) {
    stacks_.release(thread.fiber.stack());
    thread.wait = Wait::Exited;
    --live_;
  }
  if (thread.error) {
    try {
      std::rethrow_exception(thread.error);
    } catch (const DeviceFault& fault) {
      fail(thread, fault.code, fault.what());
    } catch (const std::exception& error) {
      fail(thread, cudaErrorLaunchFailure, std::string("the kernel threw: ") + error.what());
    } catch (...) {
      fail(thread, cudaErrorLaunchFailure, "the kernel threw an exception that is not a std::exception");
    }
  }
  if (shared_used_) check_shared_guards(&thread, SharedArena::kQuickGuard);
}

void BlockRun::wait(ThreadState& self) {
  self.fiber.suspend();
  if (self.abandon) throw Abandoned{};
}

bool BlockRun::release_barrier() {
  if (live_ != threads_.size() || threads_.empty()) return false;  // a thread exited: this barrier can never be met
  const ThreadState& first = threads_.front();
  int count = 0;
  for (const ThreadState& thread : threads_) {
    if (thread.wait != Wait::Barrier || !same_site(thread.site, first.site)) return false;
    count += thread.predicate;
  }
  const int total = int(threads_.size());
  for (ThreadState& thread : threads_) {
    switch (thread.barrier) {
      case BarrierKind::Sync: thread.barrier_result = 0; break;
      case BarrierKind::Count: thread.barrier_result = count; break;
      case BarrierKind::And: thread.barrier_result = count == total; break;
      case BarrierKind::Or: thread.barrier_result = count > 0; break;
    }
    thread.wait = Wait::Runnable;
  }
  return true;
}

// Every live thread waits and nothing can be released: say why, naming a thread.
void BlockRun::fail_stalled() const {
  diagnose_warps();
  const ThreadState* waiting = nullptr;
  const ThreadState* exited = nullptr;
  unsigned at_barrier = 0;
  for (const ThreadState& thread : threads_) {
    if (thread.wait == Wait::Barrier) {
      ++at_barrier;
      if (!waiting) waiting = &thread;
    }
    if (thread.wait == Wait::Exited && !exited) exited = &thread;
  }
  if (waiting) {
    for (const ThreadState& thread : threads_)
      if (thread.wait == Wait::Barrier && !same_site(thread.site, waiting->site))
        fail(*waiting, cudaErrorLaunchFailure,
             std::string("waits at ") + barrier_name(waiting->barrier) + " at " + site_name(waiting->site) + " while " +
                 describe(thread) + " waits at " + barrier_name(thread.barrier) + " at " + site_name(thread.site) +
                 ": every thread of a block must reach the same __syncthreads()");
    if (exited)
      fail(*waiting, cudaErrorLaunchFailure,
           std::string(barrier_name(waiting->barrier)) + " at " + site_name(waiting->site) + " waits for " +
               describe(*exited) + ", which exited without reaching it (" + std::to_string(at_barrier) + " of " +
               std::to_string(threads_.size()) +
               " threads reached it): every thread of a block must reach each __syncthreads(); a thread that "
               "returns early must do so after the last one");
  }
  for (const ThreadState& thread : threads_)
    if (thread.wait != Wait::Exited)
      fail(thread, cudaErrorLaunchFailure, "deadlock: every thread of the block waits and none can continue");
  fail(threads_.front(), cudaErrorUnknown, "the emulator stalled with no thread waiting (a bug of the emulator)");
}

void BlockRun::fail(const ThreadState& thread, cudaError_t code, const std::string& what) const {
  throw BlockFault(code, "block " + coordinates(block_index_) + " " + describe(thread) + ": " + what);
}

void BlockRun::check_shared_guards(const ThreadState* thread, size_t span) const {
  const std::optional<long> offset = shared_.overwritten(span);
  if (!offset) return;
  const std::string what =
      "wrote dynamic shared memory out of bounds: byte " + std::to_string(*offset) +
      (*offset < 0 ? " (before its start)" : " (past the end of its " + std::to_string(shared_.bytes()) + " bytes)");
  if (thread) fail(*thread, cudaErrorIllegalAddress, what);
  throw BlockFault(cudaErrorIllegalAddress, "block " + coordinates(block_index_) + ": a thread " + what);
}

// Unwinds every fiber that is still suspended (its pending barrier or
// collective throws Abandoned), so that its stack can be reused and its
// destructors run.
void BlockRun::abandon_all() {
  running_thread = nullptr;
  for (ThreadState& thread : threads_) {
    if (!thread.started || thread.fiber.finished()) continue;
    thread.abandon = true;
    for (int attempt = 0; attempt < 16 && !thread.fiber.finished(); ++attempt) {
      threadIdx = thread.index;
      running_thread = &thread;
      thread.fiber.resume();
      running_thread = nullptr;
    }
    if (thread.fiber.finished()) stacks_.release(thread.fiber.stack());
    // else: kernel code swallowed Abandoned; its stack is left to it (never reused).
    thread.wait = Wait::Exited;
  }
}

}  // namespace clipgrad::cuda::emulator::detail
