#include "cli/bench/step_clock.h"

#include <stdexcept>

#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/counters.h"
#endif
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/check.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#endif

namespace clipgrad::cli {

StepClock::StepClock(Device device, int marks_per_step) : device_(device), host_marks_(marks_per_step) {
  if (device_ == Device::CPU) return;
#ifdef CLIPGRAD_HAVE_CUDA
  device_marks_.resize(marks_per_step);
  for (void*& event : device_marks_) CUDA_CHECK(cudaEventCreate(reinterpret_cast<cudaEvent_t*>(&event)));
#else
  throw std::runtime_error("bench: this build has no CUDA backend; use --device cpu");
#endif
}

StepClock::~StepClock() {
#ifdef CLIPGRAD_HAVE_CUDA
  for (void* event : device_marks_) cudaEventDestroy(static_cast<cudaEvent_t>(event));
#endif
}

void StepClock::mark(int index) {
  if (device_ == Device::CPU) {
    host_marks_.at(index) = std::chrono::steady_clock::now();
    return;
  }
#ifdef CLIPGRAD_HAVE_CUDA
  CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(device_marks_.at(index)), cuda::compute_stream()));
#endif
}

double StepClock::elapsed_ms(int from, int to) {
  if (device_ == Device::CPU)
    return std::chrono::duration<double, std::milli>(host_marks_.at(to) - host_marks_.at(from)).count();
#ifdef CLIPGRAD_HAVE_CUDA
  auto end = static_cast<cudaEvent_t>(device_marks_.at(to));
  CUDA_CHECK(cudaEventSynchronize(end));
  float milliseconds = 0;
  CUDA_CHECK(cudaEventElapsedTime(&milliseconds, static_cast<cudaEvent_t>(device_marks_.at(from)), end));
  return milliseconds;
#else
  return 0;
#endif
}

size_t device_memory_in_use(Device device) {
  if (device == Device::CPU) return 0;
#ifdef CLIPGRAD_HAVE_CUDA
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return total_bytes - free_bytes;
#else
  return 0;
#endif
}

DeviceWork device_work() {
#ifdef CLIPGRAD_CUDA_EMULATE
  const cuda::emulator::Counters counters = cuda::emulator::counters();
  return {true, counters.launches(), counters.host_waits};
#else
  return {};
#endif
}

bool cuda_device_present() {
#ifdef CLIPGRAD_HAVE_CUDA
  return cuda::available();
#else
  return false;
#endif
}

}  // namespace clipgrad::cli
