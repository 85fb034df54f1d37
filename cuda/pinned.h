// Page-locked host memory and asynchronous host-to-device copies on the
// copy stream, for the loader's batches.
//
//   void* batch = cuda::pinned_allocate(bytes);     // the loader decodes into it
//   cuda::HostToDeviceCopy copy;
//   copy.start(device_pointer, batch, bytes);        // returns at once
//   copy.wait();                                     // before `batch` is written again or freed
//
//   cuda::PinnedBuffer staging(bytes);               // for memory that is not page-locked
//   std::memcpy(staging.data(), host, bytes);      // waits first if a copy still reads it
//   staging.copy_to_device(device_pointer, bytes);  // returns at once
//
// Ordering: the copy stream first waits for the compute stream (the
// destination block may have been freed by work still queued there, see
// cuda/block_pool.h), copies, and records an event the compute stream waits
// on, so kernels queued after copy_to_device see the data. The buffer itself
// is reusable once that event has passed; data() waits for it.
#pragma once

#include <cstddef>

#include "cuda/block_pool.h"

namespace clipgrad::cuda {

// Page-locked host memory from a BlockPool (cuda/block_pool.h) over
// cudaHostAlloc and cudaFreeHost, one per process: a block freed by the host
// is reused at once, so the caller must have waited for every copy that reads
// it (HostToDeviceCopy::wait). Thread-safe.
void* pinned_allocate(size_t bytes);  // throws std::bad_alloc when the host cannot lock more
void pinned_deallocate(void* block) noexcept;
BlockPoolStats pinned_stats();

// One asynchronous copy of page-locked host memory to the device, ordered as
// the comment above says. The source must stay unchanged until wait() has
// returned (the destructor waits too).
class HostToDeviceCopy {
 public:
  HostToDeviceCopy();
  ~HostToDeviceCopy();
  HostToDeviceCopy(HostToDeviceCopy&& other) noexcept;
  HostToDeviceCopy& operator=(HostToDeviceCopy&& other) noexcept;
  HostToDeviceCopy(const HostToDeviceCopy&) = delete;
  HostToDeviceCopy& operator=(const HostToDeviceCopy&) = delete;

  // Waits for the previous copy first, if one is still running.
  void start(void* device_destination, const void* pinned_source, size_t bytes);
  // Blocks until the copy has read its source (at once if it already has).
  void wait();
  // The same for destructors: an error is not reported (the memory is freed anyway).
  void wait_quietly() noexcept;

 private:
  void release() noexcept;

  void* done_ = nullptr;  // cudaEvent_t, recorded on the copy stream after the copy
  bool pending_ = false;
};

class PinnedBuffer {
 public:
  explicit PinnedBuffer(size_t bytes = 0);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  // Grows to at least `bytes` (the old contents are not kept).
  void reserve(size_t bytes);
  size_t capacity() const { return bytes_; }
  // The host memory, once no copy reads it any more (blocks until then).
  void* data();
  void copy_to_device(void* device_destination, size_t bytes);

 private:
  void release() noexcept;

  void* host_ = nullptr;
  size_t bytes_ = 0;
  HostToDeviceCopy copy_;
};

}  // namespace clipgrad::cuda
