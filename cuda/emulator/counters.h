// What the emulated device was asked to do, counted from the start of the
// process or the last reset_counters(): how many kernels a piece of host code
// launches, and how often it makes the host wait for the device. A GPU build
// has no such counters (nsys counts there); under the emulator a test can
// state "a training step's AdamW is one launch" or "the forward and backward
// make no host synchronisation" and fail when a change breaks it.
//
// What counts:
//   kernel_launches       every launch of our kernels (cuda::launch), refused or not
//   library_calls         cuBLASLt matmuls and cuDNN's computing calls (a GPU's
//                         kernels too, launched by the library)
//   host_waits            every call after which the host has waited for the
//                         device: cudaDeviceSynchronize, cudaStreamSynchronize,
//                         cudaEventSynchronize, and the synchronous copies
//                         (cudaMemcpy, cudaMemcpy2D). cuda::memcpy of host memory
//                         (Tensor::to(CPU), item(), an upload from pageable
//                         memory) waits on its stream, so each is one.
//   device_to_host_copies copies (synchronous or not) whose destination is host memory
//   host_to_device_copies copies whose source is host memory
// The counters are process-wide and atomic: a test that counts should run
// nothing else on the device meanwhile.
#pragma once

#include <cstdint>

namespace clipgrad::cuda::emulator {

struct Counters {
  uint64_t kernel_launches = 0;
  uint64_t library_calls = 0;
  uint64_t host_waits = 0;
  uint64_t device_to_host_copies = 0;
  uint64_t host_to_device_copies = 0;

  uint64_t launches() const { return kernel_launches + library_calls; }
  Counters operator-(const Counters& earlier) const;
};

Counters counters();
void reset_counters();

namespace detail {
enum class Counted { KernelLaunch, LibraryCall, HostWait, DeviceToHostCopy, HostToDeviceCopy };
void count(Counted what);
}  // namespace detail

}  // namespace clipgrad::cuda::emulator
