#include "cuda/emulator/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
#define CLIPGRAD_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLIPGRAD_EMU_ASAN 1
#endif
#endif
#ifdef CLIPGRAD_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace clipgrad::cuda::emulator::detail {

namespace fcontext = boost::context::detail;

namespace {

size_t page_size() {
  static const size_t size = size_t(sysconf(_SC_PAGESIZE));
  return size;
}

// The stack of the OS thread that runs the scheduler, as ASan needs it to
// switch back (learnt at a fiber's first entry; the same for every fiber of
// that thread).
thread_local const void* scheduler_stack_bottom = nullptr;
thread_local size_t scheduler_stack_size = 0;

// ASan's fiber protocol: start_switch before jumping (the target's stack;
// a null fake-stack slot when the current fiber is done for good), then
// finish_switch on arrival.
inline void before_switch([[maybe_unused]] void** fake_stack, [[maybe_unused]] const void* bottom,
                          [[maybe_unused]] size_t size) {
#ifdef CLIPGRAD_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
}
inline void after_switch([[maybe_unused]] void* fake_stack, [[maybe_unused]] const void** old_bottom,
                         [[maybe_unused]] size_t* old_size) {
#ifdef CLIPGRAD_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, old_bottom, old_size);
#endif
}

}  // namespace

struct FiberAccess {
  static void entry(fcontext::transfer_t transfer) {
    Fiber& fiber = *static_cast<Fiber*>(transfer.data);
    after_switch(nullptr, &scheduler_stack_bottom, &scheduler_stack_size);
    fiber.scheduler_ = transfer.fctx;
    fiber.entry_(fiber.argument_);
    fiber.finished_ = true;
    before_switch(nullptr, scheduler_stack_bottom, scheduler_stack_size);  // this fiber's fake stack can go
    fcontext::jump_fcontext(fiber.scheduler_, nullptr);
    __builtin_unreachable();  // a finished fiber is never resumed
  }
};

StackPool::~StackPool() {
  for (const Stack& stack : all_) munmap(static_cast<char*>(stack.base) - page_size(), stack.size + page_size());
}

Stack StackPool::acquire() {
  if (!free_.empty()) {
    const Stack stack = free_.back();
    free_.pop_back();
    return stack;
  }
  const size_t guard = page_size(), size = (stack_bytes_ + guard - 1) / guard * guard;
  void* mapping =
      mmap(nullptr, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED)
    throw std::runtime_error(std::string("emulator: cannot map a fiber stack: ") + std::strerror(errno));
  mprotect(mapping, guard, PROT_NONE);  // the guard page: stacks grow down into it
  const Stack stack{static_cast<char*>(mapping) + guard, size};
  all_.push_back(stack);
  return stack;
}

void StackPool::release(Stack stack) { free_.push_back(stack); }

void Fiber::start(Stack stack, Entry entry, void* argument) {
  stack_ = stack;
  entry_ = entry;
  argument_ = argument;
  finished_ = false;
  context_ = fcontext::make_fcontext(static_cast<char*>(stack.base) + stack.size, stack.size, &FiberAccess::entry);
}

void Fiber::resume() {
  void* fake_stack = nullptr;
  before_switch(&fake_stack, stack_.base, stack_.size);
  const fcontext::transfer_t back = fcontext::jump_fcontext(context_, this);
  after_switch(fake_stack, nullptr, nullptr);
  context_ = back.fctx;
}

void Fiber::suspend() {
  void* fake_stack = nullptr;
  before_switch(&fake_stack, scheduler_stack_bottom, scheduler_stack_size);
  const fcontext::transfer_t back = fcontext::jump_fcontext(scheduler_, nullptr);
  after_switch(fake_stack, &scheduler_stack_bottom, &scheduler_stack_size);
  scheduler_ = back.fctx;
}

}  // namespace clipgrad::cuda::emulator::detail
