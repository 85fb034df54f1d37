// The clock of `clipgrad bench`: marks between the phases of a training step
// (forward + loss, backward, optimizer), as CUDA events on the compute stream
// for a CUDA run (the host only queues work there, so host time would measure
// the launch queue) and as host time points on the CPU; and the device memory
// in use, for the peak.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace clipgrad::cli {

class StepClock {
 public:
  StepClock(Device device, int marks_per_step);
  ~StepClock();
  StepClock(const StepClock&) = delete;
  StepClock& operator=(const StepClock&) = delete;

  void mark(int index);  // index < marks_per_step
  // Waits for the marked work; the milliseconds from mark `from` to mark `to` of the last step.
  double elapsed_ms(int from, int to);

 private:
  Device device_;
  std::vector<std::chrono::steady_clock::time_point> host_marks_;
  std::vector<void*> device_marks_;  // cudaEvent_t, kept opaque so that this header needs no CUDA
};

// Bytes of device memory in use on the current CUDA device (cudaMemGetInfo:
// total - free, so it counts what the caching allocator holds, like PyTorch's
// max_memory_reserved); 0 for the CPU. The one place to swap in the caching
// allocator's own current/peak statistics once it reports them.
size_t device_memory_in_use(Device device);

// What the device was asked to do so far, where the build can count it: under
// the SIMT emulator (CLIPGRAD_CUDA=EMULATE), its counters of kernel launches
// (ours and the vendor libraries') and of host waits for the device
// (cuda/emulator/counters.h); elsewhere `counted` is false (nsys counts on a GPU).
struct DeviceWork {
  bool counted = false;
  uint64_t launches = 0, host_waits = 0;
};
DeviceWork device_work();

// Whether this build has the CUDA backend and the machine a CUDA device.
bool cuda_device_present();

}  // namespace clipgrad::cli
