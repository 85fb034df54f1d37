// CUDA_CHECK: throws with file:line and CUDA's error string. (The GPU
// libraries' checks, CUBLAS_CHECK and CUDNN_CHECK, are in
// tensor/cuda/blas/library_handles.h, the one place that calls them.)
#pragma once

#include <stdexcept>
#include <string>

#include "cuda/api.h"

namespace clipgrad::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + cudaGetErrorString(status));
}

// What an allocation call returned: the pointer, or null when the device (or
// the host, for page-locked memory) is out of memory, an answer the caller
// acts on, with the error cleared so that the next call does not report it
// again. Any other failure throws.
inline void* allocated_or_null(cudaError_t status, void* pointer, const char* call) {
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  if (status != cudaSuccess) throw_cuda_error(status, call, __FILE__, __LINE__);
  return pointer;
}

}  // namespace clipgrad::cuda

#define CUDA_CHECK(call)                                                                                \
  do {                                                                                                  \
    cudaError_t status_ = (call);                                                                       \
    if (status_ != cudaSuccess) ::clipgrad::cuda::throw_cuda_error(status_, #call, __FILE__, __LINE__); \
  } while (0)
