// What the library-backed kernels share: CUBLAS_CHECK and CUDNN_CHECK (throw
// with file:line and the library's error string), and cuBLASLt and cuDNN
// handles, one per device, created on first use and bound to
// cuda::compute_stream(); they live as long as the process, like the streams. Workspaces come from the CUDA allocator
// (the caching allocator once it is installed), so they are counted in its statistics.
#pragma once

#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/vendor/cublasLt.h"  // host stand-ins over emulated device memory (cuda/emulator/README.md)
#include "cuda/emulator/vendor/cudnn.h"
#else
#include <cublasLt.h>
#include <cudnn.h>
#endif

#include <cstddef>
#include <stdexcept>
#include <string>

#include "tensor/tensor.h"

namespace clipgrad::cuda {

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + cublasLtGetStatusString(status));
}

[[noreturn]] inline void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + cudnnGetErrorString(status));
}

cublasLtHandle_t lt_handle();
// cuBLASLt's workspace of the current device: 32 MiB, what NVIDIA advises for Hopper.
struct Workspace {
  void* data;
  size_t bytes;
};
Workspace lt_workspace();
// The current device's cuDNN handle, set to the compute stream.
cudnnHandle_t cudnn_handle();
// `bytes` of device memory for one call's workspace (freed with the tensor;
// safe because every kernel runs on the one compute stream).
Tensor device_scratch(size_t bytes);

}  // namespace clipgrad::cuda

#define CUBLAS_CHECK(call)                                                                                          \
  do {                                                                                                              \
    cublasStatus_t status_ = (call);                                                                                \
    if (status_ != CUBLAS_STATUS_SUCCESS) ::clipgrad::cuda::throw_cublas_error(status_, #call, __FILE__, __LINE__); \
  } while (0)

#define CUDNN_CHECK(call)                                                                                         \
  do {                                                                                                            \
    cudnnStatus_t status_ = (call);                                                                               \
    if (status_ != CUDNN_STATUS_SUCCESS) ::clipgrad::cuda::throw_cudnn_error(status_, #call, __FILE__, __LINE__); \
  } while (0)
