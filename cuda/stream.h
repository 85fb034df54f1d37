// The streams every CUDA kernel and copy of clipgrad runs on: one compute
// stream (all kernels, cuBLASLt and cuDNN calls) and one copy stream (the
// loader's host-to-device batches, ordered against compute with events).
// Created on first use, for the current device; never destroyed (they live
// as long as the process, like the CUDA context).
#pragma once

#include "cuda/api.h"

namespace clipgrad::cuda {

cudaStream_t compute_stream();
cudaStream_t copy_stream();

// A CUDA event without timing: record it on one stream, make another stream
// (or the host) wait for it.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(cudaStream_t stream);
  void make_wait(cudaStream_t stream) const;  // stream's later work waits for the recorded point
  void synchronize() const;                   // the host waits for it
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace clipgrad::cuda
