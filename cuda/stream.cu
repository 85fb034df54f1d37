#include "cuda/stream.h"

#include <cstdlib>
#include <string>

#include "cuda/check.h"
#include "cuda/launch.h"

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

namespace {
// CLIPGRAD_CUDA_SYNC=1: wait for every kernel as it is launched (read once).
bool sync_after_every_launch() {
  static const bool enabled = [] {
    const char* value = std::getenv("CLIPGRAD_CUDA_SYNC");
    return value && std::string(value) == "1";
  }();
  return enabled;
}
}  // namespace

void check_launch(const KernelSite& site) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess && sync_after_every_launch()) status = cudaStreamSynchronize(compute_stream());
  if (status != cudaSuccess)
    throw_cuda_error(status, (std::string("kernel ") + site.name).c_str(), site.where.file_name(),
                     static_cast<int>(site.where.line()));
}

}  // namespace clipgrad::cuda
