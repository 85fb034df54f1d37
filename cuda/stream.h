// The streams every CUDA kernel and copy of clipgrad runs on: one compute
// stream (all kernels, cuBLASLt and cuDNN calls) and one copy stream (the
// loader's host-to-device batches, ordered against compute with events).
// Created on first use, for the current device; never destroyed (they live
// as long as the process, like the CUDA context).
#pragma once

#include <cuda_runtime.h>

namespace clipgrad::cuda {

cudaStream_t compute_stream();
cudaStream_t copy_stream();

}  // namespace clipgrad::cuda
