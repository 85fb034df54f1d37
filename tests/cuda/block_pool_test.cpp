// The caching allocator's bookkeeping (cuda/block_pool.h) over a fake raw
// allocator: size classes, reuse, no raw calls in steady state, stats,
// empty_cache and the retry after an out-of-memory. Runs without a GPU.
#include "cuda/block_pool.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <vector>

using clipgrad::cuda::BlockPool;

namespace {

// A raw allocator that records its calls and can be made to run out of memory.
struct FakeDevice {
  std::set<void*> live;
  size_t capacity = SIZE_MAX, used = 0;
  std::vector<size_t> sizes_asked;
  void* allocate(size_t bytes) {
    sizes_asked.push_back(bytes);
    if (used + bytes > capacity) return nullptr;
    void* pointer = std::malloc(bytes);
    live.insert(pointer);
    used += bytes;
    return pointer;
  }
  void release(void* pointer, size_t bytes) {
    ASSERT_EQ(live.erase(pointer), 1u) << "freed a pointer the fake never gave out";
    used -= bytes;
    std::free(pointer);
  }
};

struct PoolOverFake {
  FakeDevice device;
  std::map<void*, size_t> sizes;  // the fake's own record, for release()
  BlockPool pool{[this](size_t bytes) {
                   void* pointer = device.allocate(bytes);
                   if (pointer) sizes[pointer] = bytes;
                   return pointer;
                 },
                 [this](void* pointer) {
                   device.release(pointer, sizes.at(pointer));
                   sizes.erase(pointer);
                 }};
  ~PoolOverFake() { pool.empty_cache(); }
};

}  // namespace

TEST(BlockPool, RoundsSmallRequestsTo512BytesAndLargeTo2MiB) {
  EXPECT_EQ(BlockPool::rounded_size(0), 512u);
  EXPECT_EQ(BlockPool::rounded_size(1), 512u);
  EXPECT_EQ(BlockPool::rounded_size(512), 512u);
  EXPECT_EQ(BlockPool::rounded_size(513), 1024u);
  EXPECT_EQ(BlockPool::rounded_size(1 << 20), size_t(1) << 20);
  EXPECT_EQ(BlockPool::rounded_size((1 << 20) + 1), size_t(2) << 20);
  EXPECT_EQ(BlockPool::rounded_size((size_t(5) << 20) + 7), size_t(6) << 20);
}

TEST(BlockPool, ReusesFreedBlocksWithoutCallingTheRawAllocatorAgain) {
  PoolOverFake fake;
  // One "training step": a few tensors of assorted sizes, all freed at the end.
  auto step = [&] {
    std::vector<void*> blocks;
    for (size_t bytes : {100u, 4000u, 4000u, 70000u, 3000000u}) blocks.push_back(fake.pool.allocate(bytes));
    for (void* block : blocks) fake.pool.deallocate(block);
  };
  step();
  const int64_t after_first = fake.pool.stats().raw_allocations;
  EXPECT_EQ(after_first, 5);
  for (int i = 0; i < 10; ++i) step();
  EXPECT_EQ(fake.pool.stats().raw_allocations, after_first) << "steady state must not call cudaMalloc";
  EXPECT_EQ(fake.pool.stats().raw_frees, 0);
  EXPECT_EQ(fake.pool.stats().allocated_bytes, 0u);
}

TEST(BlockPool, TakesTheSmallestCachedBlockThatFitsAndNoneTwiceAsLarge) {
  PoolOverFake fake;
  void* large = fake.pool.allocate(8192);
  void* small = fake.pool.allocate(2048);
  fake.pool.deallocate(large);
  fake.pool.deallocate(small);
  EXPECT_EQ(fake.pool.allocate(1500), small);  // 2048 is the best fit for 1536
  void* fresh = fake.pool.allocate(1000);      // 8192 > 2 x 1024: a new block, not the large one
  EXPECT_NE(fresh, large);
  EXPECT_EQ(fake.pool.allocate(5000), large);  // 8192 <= 2 x 5120
  EXPECT_EQ(fake.pool.stats().raw_allocations, 3);
}

TEST(BlockPool, TracksCurrentAndPeakBytes) {
  PoolOverFake fake;
  void* a = fake.pool.allocate(1000);  // 1024
  void* b = fake.pool.allocate(3000);  // 3072
  EXPECT_EQ(fake.pool.stats().allocated_bytes, 4096u);
  fake.pool.deallocate(a);
  EXPECT_EQ(fake.pool.stats().allocated_bytes, 3072u);
  EXPECT_EQ(fake.pool.stats().peak_allocated_bytes, 4096u);
  EXPECT_EQ(fake.pool.stats().reserved_bytes, 4096u);  // a is cached, not returned
  fake.pool.deallocate(b);
  EXPECT_EQ(fake.pool.cached_blocks(), 2u);
}

TEST(BlockPool, EmptyCacheReturnsOnlyFreeBlocks) {
  PoolOverFake fake;
  void* kept = fake.pool.allocate(4096);
  fake.pool.deallocate(fake.pool.allocate(10000));
  fake.pool.empty_cache();
  EXPECT_EQ(fake.pool.stats().raw_frees, 1);
  EXPECT_EQ(fake.device.live.size(), 1u);
  EXPECT_EQ(fake.pool.stats().reserved_bytes, 4096u);
  fake.pool.deallocate(kept);
}

TEST(BlockPool, OutOfMemoryReturnsTheCacheAndRetriesOnce) {
  PoolOverFake fake;
  fake.device.capacity = size_t(6) << 20;
  fake.pool.deallocate(fake.pool.allocate(size_t(4) << 20));  // 4 MiB cached
  void* block = fake.pool.allocate(size_t(5) << 20);          // 6 MiB: fits only once the cache is returned
  EXPECT_NE(block, nullptr);
  EXPECT_EQ(fake.pool.stats().raw_frees, 1);
  EXPECT_THROW(fake.pool.allocate(size_t(1) << 20), std::bad_alloc);  // the device is full
  fake.pool.deallocate(block);
}

TEST(BlockPool, CountsFreesOfUnknownPointersInsteadOfCrashing) {
  PoolOverFake fake;
  int not_from_the_pool = 0;
  fake.pool.deallocate(&not_from_the_pool);
  EXPECT_EQ(fake.pool.unknown_frees(), 1);
}
