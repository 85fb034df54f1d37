// The caching allocator's bookkeeping, free of CUDA so that a CPU test can run
// it over a fake malloc (tests/cuda/block_pool_test.cpp).
//
// Sizes are rounded to a class: up to 1 MiB in 512-byte steps, above that in
// 2 MiB steps, so that the varying shapes of a training step (the last batch,
// a shorter text) land on the same few sizes. A freed block goes to a free
// list (size -> blocks) and the next request takes the smallest cached block
// that is at least as large and at most twice the request; only when none
// fits is the raw allocator called. Once a training step has run, every
// later step finds its blocks cached: no raw malloc or free in steady state.
//
// Reuse is stream-ordered: every kernel and copy runs on the one compute
// stream (cuda/stream.h), so a block freed by the host is reused only by
// work queued after the work that last touched it; the host never waits.
// Work on another stream (the copy stream) must first wait for the compute
// stream (cuda/pinned.h does).
//
// Thread-safe (one mutex): tensors may be freed from loader threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace clipgrad::cuda {

struct BlockPoolStats {
  size_t allocated_bytes = 0;       // in blocks handed out now (rounded sizes)
  size_t peak_allocated_bytes = 0;  // the most allocated_bytes ever was
  size_t reserved_bytes = 0;        // obtained from the raw allocator and not yet returned
  int64_t raw_allocations = 0;      // calls of the raw allocator (cudaMalloc) so far
  int64_t raw_frees = 0;            // calls of the raw free (cudaFree) so far
};

class BlockPool {
 public:
  // raw_allocate returns null when memory is exhausted; raw_free never fails.
  using RawAllocate = std::function<void*(size_t bytes)>;
  using RawFree = std::function<void(void* pointer)>;

  static constexpr size_t kSmallStep = 512;
  static constexpr size_t kSmallLimit = size_t(1) << 20;
  static constexpr size_t kLargeStep = size_t(2) << 20;

  BlockPool(RawAllocate raw_allocate, RawFree raw_free)
      : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)) {}
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // The size class of a request (0 bytes gets the smallest class).
  static size_t rounded_size(size_t bytes) {
    if (bytes <= kSmallLimit) return bytes == 0 ? kSmallStep : (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
    if (bytes > SIZE_MAX - kLargeStep)
      throw std::length_error("cuda allocator: request of " + std::to_string(bytes) + " bytes");
    return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
  }

  // A block of at least `bytes`; throws std::bad_alloc when the raw allocator
  // fails even after the cache was returned to it.
  void* allocate(size_t bytes) {
    const size_t size = rounded_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* block = take_cached(size);
    if (!block) block = allocate_raw(size);
    if (!block) {
      release_cached();  // fragmentation: give everything back and try once more
      block = allocate_raw(size);
    }
    if (!block) throw std::bad_alloc();
    in_use_[block] = block_sizes_.at(block);
    stats_.allocated_bytes += in_use_[block];
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return block;
  }

  // Returns a block to the cache. Unknown pointers are a bug of the caller: ignored
  // here (this runs in destructors), counted in unknown_frees().
  void deallocate(void* block) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = in_use_.find(block);
    if (found == in_use_.end()) {
      ++unknown_frees_;
      return;
    }
    stats_.allocated_bytes -= found->second;
    free_blocks_.emplace(found->second, block);
    in_use_.erase(found);
  }

  // Returns every cached (free) block to the raw allocator; blocks in use stay.
  // The caller must make sure no queued work still uses them (CUDA: synchronise first).
  void release_cached() {
    for (auto& [size, block] : free_blocks_) {
      raw_free_(block);
      block_sizes_.erase(block);
      stats_.reserved_bytes -= size;
      ++stats_.raw_frees;
    }
    free_blocks_.clear();
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached();
  }

  BlockPoolStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  size_t cached_blocks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_blocks_.size();
  }
  int64_t unknown_frees() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return unknown_frees_;
  }

 private:
  // The smallest cached block in [size, 2 size], removed from the free list.
  void* take_cached(size_t size) {
    auto candidate = free_blocks_.lower_bound(size);
    if (candidate == free_blocks_.end() || candidate->first > 2 * size) return nullptr;
    void* block = candidate->second;
    free_blocks_.erase(candidate);
    return block;
  }
  void* allocate_raw(size_t size) {
    void* block = raw_allocate_(size);
    ++stats_.raw_allocations;
    if (!block) return nullptr;
    block_sizes_[block] = size;
    stats_.reserved_bytes += size;
    return block;
  }

  RawAllocate raw_allocate_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;       // cached: size -> block
  std::unordered_map<void*, size_t> in_use_;       // handed out: block -> size
  std::unordered_map<void*, size_t> block_sizes_;  // every raw block we hold
  BlockPoolStats stats_;
  int64_t unknown_frees_ = 0;
};

}  // namespace clipgrad::cuda
