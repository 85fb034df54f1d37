#include "tensor/cuda/blas/library_handles.h"

#include <array>
#include <mutex>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/stream.h"

namespace clipgrad::cuda {

namespace {

constexpr int kMaxDevices = 16;
constexpr size_t kLtWorkspaceBytes = size_t(32) << 20;

struct DeviceHandles {
  cublasLtHandle_t lt = nullptr;
  Tensor lt_workspace;  // u8 [kLtWorkspaceBytes]
  cudnnHandle_t cudnn = nullptr;
};

std::mutex g_mutex;
// Never destroyed: a workspace freed by a static destructor could outlive the CUDA context.
auto& g_handles = *new std::array<DeviceHandles, kMaxDevices>;

DeviceHandles& handles_of_current_device() {
  const int device = current_device();
  if (device >= kMaxDevices)
    throw std::runtime_error("cuda: device " + std::to_string(device) + " is past the " + std::to_string(kMaxDevices) +
                             " devices this build keeps handles for");
  return g_handles[device];
}

}  // namespace

cublasLtHandle_t lt_handle() {
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceHandles& handles = handles_of_current_device();
  if (!handles.lt) CUBLAS_CHECK(cublasLtCreate(&handles.lt));
  return handles.lt;
}

Workspace lt_workspace() {
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceHandles& handles = handles_of_current_device();
  if (!handles.lt_workspace.defined())
    handles.lt_workspace = Tensor::empty({int64_t(kLtWorkspaceBytes)}, DType::U8, Device::CUDA);
  return {handles.lt_workspace.raw_data(), kLtWorkspaceBytes};
}

cudnnHandle_t cudnn_handle() {
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceHandles& handles = handles_of_current_device();
  if (!handles.cudnn) CUDNN_CHECK(cudnnCreate(&handles.cudnn));
  CUDNN_CHECK(cudnnSetStream(handles.cudnn, cuda::compute_stream()));
  return handles.cudnn;
}

Tensor device_scratch(size_t bytes) { return Tensor::empty({int64_t(bytes)}, DType::U8, Device::CUDA); }

}  // namespace clipgrad::cuda
