#include "cuda/pinned.h"

#include <utility>

#include "cuda/check.h"
#include "cuda/stream.h"

namespace clipgrad::cuda {

namespace {
cudaEvent_t as_event(void* event) { return static_cast<cudaEvent_t>(event); }
}  // namespace

PinnedBuffer::PinnedBuffer(size_t bytes) {
  cudaEvent_t event = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  copy_done_ = event;
  reserve(bytes);
}

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept { *this = std::move(other); }

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    host_ = std::exchange(other.host_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    copy_done_ = std::exchange(other.copy_done_, nullptr);
    copy_pending_ = std::exchange(other.copy_pending_, false);
  }
  return *this;
}

void PinnedBuffer::release() {
  if (copy_done_) {
    if (copy_pending_) cudaEventSynchronize(as_event(copy_done_));  // the copy must not read freed memory
    cudaEventDestroy(as_event(copy_done_));
    copy_done_ = nullptr;
  }
  if (host_) cudaFreeHost(host_);
  host_ = nullptr;
  bytes_ = 0;
}

// Asks first: a copy that has finished (the usual case by the next batch) costs no wait.
void PinnedBuffer::wait_for_pending_copy() {
  if (!copy_pending_) return;
  const cudaError_t status = cudaEventQuery(as_event(copy_done_));
  if (status == cudaErrorNotReady)
    CUDA_CHECK(cudaEventSynchronize(as_event(copy_done_)));
  else
    CUDA_CHECK(status);
  copy_pending_ = false;
}

void PinnedBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_) return;
  wait_for_pending_copy();
  if (host_) CUDA_CHECK(cudaFreeHost(host_));
  host_ = nullptr;
  bytes_ = 0;
  CUDA_CHECK(cudaHostAlloc(&host_, bytes, cudaHostAllocDefault));
  bytes_ = bytes;
}

void* PinnedBuffer::data() {
  wait_for_pending_copy();
  return host_;
}

void PinnedBuffer::copy_to_device(void* device_destination, size_t bytes) {
  if (bytes > bytes_)
    throw std::invalid_argument("PinnedBuffer::copy_to_device: " + std::to_string(bytes) + " bytes from a buffer of " +
                                std::to_string(bytes_));
  if (bytes == 0) return;
  Event compute_done;
  compute_done.record(compute_stream());
  compute_done.make_wait(copy_stream());
  CUDA_CHECK(cudaMemcpyAsync(device_destination, host_, bytes, cudaMemcpyHostToDevice, copy_stream()));
  CUDA_CHECK(cudaEventRecord(as_event(copy_done_), copy_stream()));
  copy_pending_ = true;
  CUDA_CHECK(cudaStreamWaitEvent(compute_stream(), as_event(copy_done_), 0));
}

}  // namespace clipgrad::cuda
