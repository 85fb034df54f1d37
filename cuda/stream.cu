#include "cuda/stream.h"

#include "cuda/check.h"

namespace clipgrad::cuda {

namespace {
cudaStream_t make_stream() {
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return stream;
}
}  // namespace

cudaStream_t compute_stream() {
  static cudaStream_t stream = make_stream();
  return stream;
}

cudaStream_t copy_stream() {
  static cudaStream_t stream = make_stream();
  return stream;
}

Event::Event() { CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }

Event::~Event() { cudaEventDestroy(event_); }

void Event::record(cudaStream_t stream) { CUDA_CHECK(cudaEventRecord(event_, stream)); }

void Event::make_wait(cudaStream_t stream) const { CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }

void Event::synchronize() const { CUDA_CHECK(cudaEventSynchronize(event_)); }

void check_last_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) throw_cuda_error(status, kernel, file, line);
}

}  // namespace clipgrad::cuda
