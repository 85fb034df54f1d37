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

}  // namespace clipgrad::cuda
