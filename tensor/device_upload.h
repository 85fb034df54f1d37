// Host tensors (the loader's batches) onto a device without stalling it.
//
// On CUDA a batch the loader decoded into host_memory(CUDA) (page-locked
// memory, cuda/pinned.h) is copied straight from there on the copy stream;
// any other host tensor goes through a page-locked staging buffer first. The
// compute stream waits for the copy only, so the host can go on queueing
// kernels while the batch is in flight. Uploads form a ring: a new one waits
// only for the copy of the one kRing uploads earlier, and a page-locked
// source is kept alive (never reused by the loader) until its copy is done.
// On the CPU an upload is the tensor itself.
//
//   Loader loader(items, {.batch_memory = &DeviceUpload::host_memory(device), ...});
//   DeviceUpload upload(device);
//   for (Batch batch; loader.next(batch);) step(upload(batch.pixels));
#pragma once

#include <cstdint>
#include <memory>

#include "tensor/tensor.h"

namespace clipgrad {

class DeviceUpload {
 public:
  static constexpr int kRing = 8;  // a batch is a few tensors: views and token tables

  // Host memory whose tensors (Tensor::empty_in) upload to `device` without a
  // staging copy: page-locked memory for CUDA, the CPU's own for the CPU.
  // One per process; throws for CUDA where there is no GPU.
  static Allocator& host_memory(Device device);

  explicit DeviceUpload(Device device);
  ~DeviceUpload();
  DeviceUpload(const DeviceUpload&) = delete;
  DeviceUpload& operator=(const DeviceUpload&) = delete;

  Device device() const { return device_; }
  // `host` (a CPU tensor) on the device.
  Tensor operator()(const Tensor& host);
  // Bytes that went through a staging buffer so far (0 when every upload
  // came from host_memory(device)).
  int64_t staged_bytes() const { return staged_bytes_; }

 private:
  struct Ring;
  Device device_;
  std::unique_ptr<Ring> ring_;  // CUDA only
  int64_t staged_bytes_ = 0;
};

}  // namespace clipgrad
