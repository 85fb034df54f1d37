// A launch: the checks a GPU makes when a grid is launched (and the pointer
// check it would fault on later), then the blocks, handed in the schedule's
// order to a pool of OS threads (the caller among them). Each OS thread runs
// one block at a time with its own fiber stacks, shared memory and
// __shared__ variables (thread_local), so blocks never share a thing a block
// owns. The first failing block stops the grid; its fault is thrown as
// KernelError naming the kernel, its call site, the block and the thread.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cuda/emulator/block.h"
#include "cuda/emulator/counters.h"
#include "cuda/emulator/grid.h"
#include "cuda/emulator/memory.h"
#include "cuda/emulator/schedule.h"

namespace clipgrad::cuda::emulator {

namespace {

using detail::kDefaultSharedLimit;
using detail::kOptinSharedLimit;

// cudaFuncAttributeMaxDynamicSharedMemorySize of each kernel that set it.
std::mutex attributes_mutex;
std::map<const void*, size_t> shared_limits;

size_t shared_limit_of(const void* kernel) {
  std::lock_guard lock(attributes_mutex);
  const auto found = shared_limits.find(kernel);
  return found == shared_limits.end() ? kDefaultSharedLimit : found->second;
}

// What a launch is, in words: "kernel 'reduce' (toy.cu:40, grid (4,1,1), block (256,1,1), 0 shared bytes)".
std::string prefix(const Launch& launch) {
  return std::string(launch.where.file_name()) + ":" + std::to_string(launch.where.line()) + ": kernel " + launch.name +
         " failed under the emulator (grid " + detail::coordinates(launch.grid) + ", block " +
         detail::coordinates(launch.block) + ", " + std::to_string(launch.shared_bytes) +
         " bytes of dynamic shared memory): ";
}

[[noreturn]] void refuse(const Launch& launch, cudaError_t code, const std::string& what) {
  throw KernelError(code, prefix(launch) + what);
}

void check_configuration(const Launch& launch) {
  const dim3 b = launch.block, g = launch.grid;
  const uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0)
    refuse(launch, cudaErrorInvalidConfiguration, "a grid or block dimension is 0");
  if (threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64)
    refuse(launch, cudaErrorInvalidConfiguration,
           "a block of " + std::to_string(threads) + " threads " + detail::coordinates(b) +
               ": CUDA allows at most 1024 threads per block (x, y <= 1024, z <= 64)");
  if (g.x > 2147483647u || g.y > 65535 || g.z > 65535)
    refuse(launch, cudaErrorInvalidConfiguration,
           "grid " + detail::coordinates(g) + " exceeds CUDA's limits (x < 2^31, y and z <= 65535)");
  if (launch.shared_bytes > kOptinSharedLimit)
    refuse(launch, cudaErrorInvalidValue,
           std::to_string(launch.shared_bytes) + " bytes of dynamic shared memory: more than sm_90's " +
               std::to_string(kOptinSharedLimit) + " per block");
  const size_t limit = shared_limit_of(launch.kernel);
  if (launch.shared_bytes > limit)
    refuse(launch, cudaErrorInvalidValue,
           std::to_string(launch.shared_bytes) + " bytes of dynamic shared memory: more than the " +
               std::to_string(limit) + " this kernel may use" +
               (limit == kDefaultSharedLimit
                    ? " without cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)"
                    : " (its cudaFuncAttributeMaxDynamicSharedMemorySize)"));
}

void check_pointers(const Launch& launch, std::span<const PointerArgument> pointers) {
  for (const PointerArgument& argument : pointers) {
    if (!argument.value || detail::find_allocation(argument.value)) continue;
    std::ostringstream address;
    address << argument.value;
    const std::string what = detail::recently_freed(argument.value)
                                 ? "device memory that cudaFree has freed"
                                 : "a host pointer (a CPU tensor's data, a malloc'd or stack buffer)";
    refuse(launch, cudaErrorIllegalAddress,
           "parameter " + std::to_string(argument.index) + " (counting from 0) is " + address.str() +
               ", which is not in emulated device memory: " + what +
               ". A kernel may be handed only null or pointers into live cudaMalloc (or cudaHostAlloc) blocks");
  }
}

// What each OS thread keeps across the blocks it runs.
struct Worker {
  detail::StackPool stacks{fiber_stack_bytes()};
  detail::SharedArena shared;
  detail::BlockRun block{stacks, shared};
};

Worker& worker() {
  thread_local Worker instance;
  return instance;
}

// Persistent OS threads; run() hands out tasks [0, count) to `workers` of
// them (the caller included) and returns when all are done, rethrowing the
// first exception (after which no new task starts).
class WorkerPool {
 public:
  void run(uint64_t count, unsigned workers, const std::function<void(uint64_t)>& task) {
    if (workers <= 1 || count <= 1) {
      for (uint64_t k = 0; k < count; ++k) task(k);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      while (threads_.size() < workers - 1) {
        const unsigned id = unsigned(threads_.size());
        threads_.emplace_back([this, id] { serve(id); });
      }
      task_ = &task;
      count_ = count;
      helpers_ = workers - 1;
      busy_ = helpers_;
      next_ = 0;
      failed_ = false;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void drain() {
    while (!failed_.load(std::memory_order_relaxed)) {
      const uint64_t k = next_.fetch_add(1);
      if (k >= count_) break;
      try {
        (*task_)(k);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_ = true;
      }
    }
  }

  void serve(unsigned id) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (id >= helpers_) continue;
      }
      drain();
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(uint64_t)>* task_ = nullptr;
  uint64_t count_ = 0, generation_ = 0;
  unsigned helpers_ = 0, busy_ = 0;
  std::atomic<uint64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

// Never destroyed: its threads wait for work until the process ends.
WorkerPool& pool() {
  static WorkerPool* instance = new WorkerPool;
  return *instance;
}

std::mutex launch_mutex;  // one grid at a time (the pool runs one job)

}  // namespace

void run_grid(const Launch& launch, std::span<const PointerArgument> pointers) {
  detail::count(detail::Counted::KernelLaunch);
  if (detail::current_block())
    refuse(launch, cudaErrorNotSupported, "launched from device code (dynamic parallelism is not emulated)");
  check_configuration(launch);
  check_pointers(launch, pointers);
  const Schedule order = schedule();
  const unsigned threads = worker_threads();
  std::lock_guard lock(launch_mutex);
  const uint64_t seed = detail::mix(order.seed, detail::take_launch_number());
  const dim3 g = launch.grid;
  const uint64_t blocks = uint64_t(g.x) * g.y * g.z;
  std::vector<uint64_t> shuffled_blocks;
  if (order.order == Order::Shuffled) detail::shuffled(shuffled_blocks, blocks, seed);
  try {
    pool().run(blocks, unsigned(std::min<uint64_t>(threads, blocks)), [&](uint64_t k) {
      const uint64_t b = detail::nth(order, shuffled_blocks, blocks, k);
      const uint3 index{unsigned(b % g.x), unsigned(b / g.x % g.y), unsigned(b / (uint64_t(g.x) * g.y))};
      worker().block.run(launch, index, order, detail::mix(seed, b));
    });
  } catch (const detail::BlockFault& fault) {
    refuse(launch, fault.code, fault.what());
  }
}

namespace detail {
void set_dynamic_shared_limit(const void* kernel, size_t bytes) {
  std::lock_guard lock(attributes_mutex);
  shared_limits[kernel] = bytes;
}
}  // namespace detail

}  // namespace clipgrad::cuda::emulator
