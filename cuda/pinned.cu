#include "cuda/pinned.h"

#include <utility>

#include "cuda/check.h"
#include "cuda/stream.h"

namespace clipgrad::cuda {

namespace {

cudaEvent_t as_event(void* event) { return static_cast<cudaEvent_t>(event); }

// Out of memory is an answer: the pool frees its cache and retries.
void* cuda_host_alloc_or_null(size_t bytes) {
  void* pointer = nullptr;
  const cudaError_t status = cudaHostAlloc(&pointer, bytes, cudaHostAllocDefault);
  return allocated_or_null(status, pointer, "cudaHostAlloc");
}

void cuda_free_host(void* pointer) { cudaFreeHost(pointer); }

// Never destroyed, as the device pool (cuda/caching_allocator.cu): tensors held
// in statics may be freed after main returns.
BlockPool& pinned_pool() {
  static BlockPool* instance = new BlockPool(&cuda_host_alloc_or_null, &cuda_free_host);
  return *instance;
}

}  // namespace

void* pinned_allocate(size_t bytes) { return pinned_pool().allocate(bytes); }

void pinned_deallocate(void* block) noexcept { pinned_pool().deallocate(block); }

BlockPoolStats pinned_stats() { return pinned_pool().stats(); }

// ---- HostToDeviceCopy ----

HostToDeviceCopy::HostToDeviceCopy() {
  cudaEvent_t event = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  done_ = event;
}

HostToDeviceCopy::~HostToDeviceCopy() { release(); }

HostToDeviceCopy::HostToDeviceCopy(HostToDeviceCopy&& other) noexcept
    : done_(std::exchange(other.done_, nullptr)), pending_(std::exchange(other.pending_, false)) {}

HostToDeviceCopy& HostToDeviceCopy::operator=(HostToDeviceCopy&& other) noexcept {
  if (this != &other) {
    release();
    done_ = std::exchange(other.done_, nullptr);
    pending_ = std::exchange(other.pending_, false);
  }
  return *this;
}

void HostToDeviceCopy::release() noexcept {
  if (!done_) return;
  wait_quietly();
  cudaEventDestroy(as_event(done_));
  done_ = nullptr;
}

void HostToDeviceCopy::wait_quietly() noexcept {
  if (pending_) cudaEventSynchronize(as_event(done_));  // the copy must not read freed memory
  pending_ = false;
}

// Asks first: a copy that has finished (the usual case by the next batch) costs no wait.
void HostToDeviceCopy::wait() {
  if (!pending_) return;
  const cudaError_t status = cudaEventQuery(as_event(done_));
  if (status == cudaErrorNotReady)
    CUDA_CHECK(cudaEventSynchronize(as_event(done_)));
  else
    CUDA_CHECK(status);
  pending_ = false;
}

void HostToDeviceCopy::start(void* device_destination, const void* pinned_source, size_t bytes) {
  wait();
  if (bytes == 0) return;
  Event compute_done;
  compute_done.record(compute_stream());
  compute_done.make_wait(copy_stream());
  CUDA_CHECK(cudaMemcpyAsync(device_destination, pinned_source, bytes, cudaMemcpyHostToDevice, copy_stream()));
  CUDA_CHECK(cudaEventRecord(as_event(done_), copy_stream()));
  pending_ = true;
  CUDA_CHECK(cudaStreamWaitEvent(compute_stream(), as_event(done_), 0));
}

// ---- PinnedBuffer ----

PinnedBuffer::PinnedBuffer(size_t bytes) { reserve(bytes); }

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : host_(std::exchange(other.host_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      copy_(std::move(other.copy_)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    host_ = std::exchange(other.host_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    copy_ = std::move(other.copy_);
  }
  return *this;
}

void PinnedBuffer::release() noexcept {
  copy_.wait_quietly();
  if (host_) cudaFreeHost(host_);
  host_ = nullptr;
  bytes_ = 0;
}

void PinnedBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_) return;
  copy_.wait();
  release();
  CUDA_CHECK(cudaHostAlloc(&host_, bytes, cudaHostAllocDefault));
  bytes_ = bytes;
}

void* PinnedBuffer::data() {
  copy_.wait();
  return host_;
}

void PinnedBuffer::copy_to_device(void* device_destination, size_t bytes) {
  if (bytes > bytes_)
    throw std::invalid_argument("PinnedBuffer::copy_to_device: " + std::to_string(bytes) + " bytes from a buffer of " +
                                std::to_string(bytes_));
  copy_.start(device_destination, host_, bytes);
}

}  // namespace clipgrad::cuda
