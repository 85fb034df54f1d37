#include "cuda/bad_indices.h"
#include "cuda/check.h"
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/controls.h"
#endif
#include "cuda/runtime.h"
#include "cuda/stream.h"

namespace clipgrad::cuda {

std::string backend_description() {
#ifdef CLIPGRAD_CUDA_EMULATE
  return "emulated on the CPU (" + emulator::describe() +
         "): our kernels from their CUDA source; cuBLASLt and cuDNN by host stand-ins; NCCL by the MPI world";
#else
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  return "NVIDIA GPU through the CUDA runtime " + std::to_string(runtime / 1000) + "." +
         std::to_string(runtime % 1000 / 10) + " (cuBLASLt, cuDNN, NCCL)";
#endif
}

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

bool available() { return device_count() > 0; }

// On the compute stream, like every kernel: the memset and the copies are
// ordered with the kernels around them (the legacy default stream would not
// order them with a non-blocking compute stream).
void device_memset_zero(void* pointer, size_t bytes) {
  if (bytes > 0) CUDA_CHECK(cudaMemsetAsync(pointer, 0, bytes, compute_stream()));
}

void memcpy(void* destination, bool destination_on_device, const void* source, bool source_on_device, size_t bytes) {
  cudaMemcpyKind kind = destination_on_device ? (source_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                              : (source_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(destination, source, bytes, kind, compute_stream()));
  const bool read_back = source_on_device && !destination_on_device;
  if (read_back) queue_bad_index_read();  // in the same wait (cuda/bad_indices.h)
  // Host memory is read or written now: the caller may free or read it next.
  if (!destination_on_device || !source_on_device) CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
  if (read_back) raise_bad_indices();
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace clipgrad::cuda
