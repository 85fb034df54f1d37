// Bad indices found by kernels on the device, reported at the next read back.
//
// Checking a device index tensor on the host would make the host wait for the
// device before every gather (the embedding's token ids, the EOT positions of
// every step), so the indexing kernels (tensor/cuda/indexing.cu) check each
// index themselves: a bad one is skipped (its row left zero) and recorded
// here, the lowest bad position per op. cuda::memcpy reads the record back
// with every copy to the host, in the same wait, and then throws
// std::out_of_range naming the op, the position, the index and the bound, as
// the host check of a CPU index tensor does (tensor/ops/shape.cpp); the record
// is cleared first. As with PyTorch's device-side asserts, the error surfaces
// at the first read back after the kernel, not at the op.
//
//   kernel:  if (index < 0 || index >= bound) record_bad_index(record, IndexedOp::embedding, position, index, bound);
//   host:    launch(..., cuda::bad_index_record());
#pragma once

#include <cstdint>

#include "cuda/api.h"

namespace clipgrad::cuda {

enum class IndexedOp : int { embedding, embedding_backward, gather_rows, gather_rows_backward };
inline constexpr int kIndexedOps = 4;

// Per op (IndexedOp): the lowest bad position with its index, packed as
// (position << 32) | uint32(index) (all ones: none), and the bound it broke.
// Positions are below 2^31 (the kernels take at most 2^31 - 1 indices).
struct BadIndexRecord {
  unsigned long long first[kIndexedOps];
  unsigned long long bound[kIndexedOps];
};

// The record in device memory, allocated and cleared on first use.
BadIndexRecord* bad_index_record();

// For cuda::memcpy: queues the record's copy into its page-locked mirror
// before a read back waits (nothing if no kernel has asked for the record)...
void queue_bad_index_read();
// ...and after the wait, throws std::out_of_range for the lowest op with a
// bad index, having cleared the record.
void raise_bad_indices();

#ifdef CLIPGRAD_DEVICE_CODE
__device__ inline void record_bad_index(BadIndexRecord* record, IndexedOp op, int64_t position, int32_t index,
                                        int64_t bound) {
  const int slot = static_cast<int>(op);
  atomicMin(&record->first[slot], (static_cast<unsigned long long>(position) << 32) | static_cast<uint32_t>(index));
  atomicMax(&record->bound[slot], static_cast<unsigned long long>(bound));
}
#endif

}  // namespace clipgrad::cuda
