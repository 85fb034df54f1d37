#include "cuda/bad_indices.h"

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/check.h"
#include "cuda/stream.h"

namespace clipgrad::cuda {

namespace {

constexpr const char* kOpNames[kIndexedOps] = {"embedding", "embedding_backward", "gather_rows",
                                               "gather_rows_backward"};

// The record on the device, its page-locked mirror on the host (filled by
// queue_bad_index_read) and a clear record to reset it from. Never freed:
// kernels queued at exit may still write the device one.
struct Records {
  BadIndexRecord* device = nullptr;
  BadIndexRecord* mirror = nullptr;
  BadIndexRecord* clear = nullptr;
};

Records& records() {
  static Records state;
  return state;
}

// Ordered with the kernels on the compute stream; `clear` is page-locked and
// never written, so the copy needs no wait.
void clear_device_record() {
  Records& r = records();
  CUDA_CHECK(cudaMemcpyAsync(r.device, r.clear, sizeof(BadIndexRecord), cudaMemcpyHostToDevice, compute_stream()));
}

std::string describe(IndexedOp op, unsigned long long first, unsigned long long bound) {
  const std::string name = kOpNames[static_cast<int>(op)];
  const std::string position = std::to_string(first >> 32);
  const std::string index = std::to_string(static_cast<int32_t>(static_cast<uint32_t>(first)));
  const std::string limit = std::to_string(bound);
  const std::string where = " (found on the device, reported at the first read back after it)";
  if (op == IndexedOp::embedding || op == IndexedOp::embedding_backward)
    return name + ": id " + index + " at flat position " + position + " is outside the vocabulary [0, " + limit + ")" +
           where;
  return name + ": index[" + position + "] = " + index + " is outside [0, " + limit + ")" + where;
}

}  // namespace

BadIndexRecord* bad_index_record() {
  static std::once_flag allocated;
  std::call_once(allocated, [] {
    Records& r = records();
    void* device = nullptr;
    void* mirror = nullptr;
    void* clear = nullptr;
    CUDA_CHECK(cudaMalloc(&device, sizeof(BadIndexRecord)));
    CUDA_CHECK(cudaHostAlloc(&mirror, sizeof(BadIndexRecord), cudaHostAllocDefault));
    CUDA_CHECK(cudaHostAlloc(&clear, sizeof(BadIndexRecord), cudaHostAllocDefault));
    r.clear = static_cast<BadIndexRecord*>(clear);
    std::memset(r.clear->first, 0xff, sizeof r.clear->first);
    std::memset(r.clear->bound, 0, sizeof r.clear->bound);
    r.mirror = static_cast<BadIndexRecord*>(mirror);
    *r.mirror = *r.clear;
    r.device = static_cast<BadIndexRecord*>(device);
    clear_device_record();
  });
  return records().device;
}

void queue_bad_index_read() {
  Records& r = records();
  if (!r.device) return;
  CUDA_CHECK(cudaMemcpyAsync(r.mirror, r.device, sizeof(BadIndexRecord), cudaMemcpyDeviceToHost, compute_stream()));
}

void raise_bad_indices() {
  Records& r = records();
  if (!r.device) return;
  for (int slot = 0; slot < kIndexedOps; ++slot) {
    if (r.mirror->first[slot] == ~0ull) continue;
    const std::string message = describe(static_cast<IndexedOp>(slot), r.mirror->first[slot], r.mirror->bound[slot]);
    *r.mirror = *r.clear;
    clear_device_record();
    throw std::out_of_range(message);
  }
}

}  // namespace clipgrad::cuda
