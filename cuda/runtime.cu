#include "cuda/check.h"
#include "cuda/runtime.h"

namespace clipgrad::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

bool available() { return device_count() > 0; }

void* device_malloc(size_t bytes) {
  void* pointer = nullptr;
  CUDA_CHECK(cudaMalloc(&pointer, bytes));
  return pointer;
}

void device_free(void* pointer) {
  if (pointer) cudaFree(pointer);  // never throws from a destructor
}

void device_memset_zero(void* pointer, size_t bytes) { CUDA_CHECK(cudaMemset(pointer, 0, bytes)); }

void memcpy(void* destination, bool destination_on_device, const void* source, bool source_on_device,
            size_t bytes) {
  cudaMemcpyKind kind = destination_on_device
                            ? (source_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                            : (source_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  CUDA_CHECK(cudaMemcpy(destination, source, bytes, kind));
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace clipgrad::cuda
