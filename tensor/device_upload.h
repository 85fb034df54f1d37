// Host tensors (the loader's batches) onto a device without stalling it.
//
// On CUDA each upload goes through a page-locked staging buffer and the copy
// stream (cuda/pinned.h): the host copies into the buffer, the GPU copies it
// out asynchronously, and the compute stream waits for that copy only, so
// the host can go on queueing kernels while the batch is in flight. The
// buffers form a ring, so a new upload waits only for the copy of the one
// kStagingBuffers uploads earlier. On the CPU an upload is the tensor itself.
#pragma once

#include <memory>

#include "tensor/tensor.h"

namespace clipgrad {

class DeviceUpload {
 public:
  static constexpr int kStagingBuffers = 8;  // a batch is a few tensors: views and token tables

  explicit DeviceUpload(Device device);
  ~DeviceUpload();
  DeviceUpload(const DeviceUpload&) = delete;
  DeviceUpload& operator=(const DeviceUpload&) = delete;

  Device device() const { return device_; }
  // `host` (a CPU tensor) on the device.
  Tensor operator()(const Tensor& host);

 private:
  struct Staging;
  Device device_;
  std::unique_ptr<Staging> staging_;  // CUDA only
};

}  // namespace clipgrad
