// Page-locked host buffers and asynchronous host-to-device copies on the
// copy stream, for the loader's batches.
//
//   cuda::PinnedBuffer staging(bytes);
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

namespace clipgrad::cuda {

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
  void wait_for_pending_copy();
  void release();

  void* host_ = nullptr;
  size_t bytes_ = 0;
  void* copy_done_ = nullptr;  // cudaEvent_t, recorded on the copy stream after each copy
  bool copy_pending_ = false;
};

}  // namespace clipgrad::cuda
