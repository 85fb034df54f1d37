#include "cuda/caching_allocator.h"

#include "cuda/check.h"

namespace clipgrad::cuda {

namespace {

// Out of memory is an answer: the pool frees its cache and retries.
void* cuda_malloc_or_null(size_t bytes) {
  void* pointer = nullptr;
  const cudaError_t status = cudaMalloc(&pointer, bytes);
  return allocated_or_null(status, pointer, "cudaMalloc");
}

// cudaFree synchronises the device, so freed blocks are never in use by queued work.
void cuda_free(void* pointer) { cudaFree(pointer); }

// Never destroyed: tensors held in statics may be freed after main returns,
// and the CUDA context goes with the process anyway.
BlockPool& pool() {
  static BlockPool* instance = new BlockPool(&cuda_malloc_or_null, &cuda_free);
  return *instance;
}

}  // namespace

void* cached_allocate(size_t bytes) { return pool().allocate(bytes); }

void cached_deallocate(void* block) noexcept { pool().deallocate(block); }

BlockPoolStats allocator_stats() { return pool().stats(); }

void empty_cache() {
  CUDA_CHECK(cudaDeviceSynchronize());
  pool().empty_cache();
}

}  // namespace clipgrad::cuda
