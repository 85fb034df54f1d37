// The cuda/ runtime (the same sources as the GPU build) over the emulated
// device: device properties, copies, events, the caching allocator and
// pinned uploads; and the host API's errors, as CUDA reports them.
#include <gtest/gtest.h>

#include <vector>

#include "cuda/caching_allocator.h"
#include "cuda/device.h"
#include "cuda/emulator/counters.h"
#include "cuda/pinned.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "emulator_test_support.h"
#include "toy_kernels.h"

using namespace clipgrad;
using namespace clipgrad::toy;

TEST(EmulatedRuntime, OneDeviceWithSm90Limits) {
  EXPECT_EQ(cuda::device_count(), 1);
  EXPECT_TRUE(cuda::available());
  cuda::set_device(0);
  EXPECT_EQ(cuda::current_device(), 0);
  EXPECT_THROW(cuda::set_device(1), std::invalid_argument);
  const cuda::DeviceProperties properties = cuda::device_properties(0);
  EXPECT_EQ(properties.name, "clipgrad SIMT emulator (CPU)");
  EXPECT_EQ(properties.compute_major, 9);
  EXPECT_EQ(properties.total_memory, cuda::emulator::memory_capacity());
  EXPECT_NE(cuda::describe_device(0).find("sm_90"), std::string::npos) << cuda::describe_device(0);
  int optin = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  EXPECT_EQ(optin, 227 * 1024);
}

TEST(EmulatedRuntime, MemoryInfoFollowsAllocations) {
  size_t free_before = 0, total = 0, free_after = 0;
  cuda::memory_info(free_before, total);
  EXPECT_LE(free_before, total);
  void* block = nullptr;
  CUDA_CHECK(cudaMalloc(&block, 1 << 20));
  cuda::memory_info(free_after, total);
  EXPECT_EQ(free_before - free_after, size_t(1) << 20);
  CUDA_CHECK(cudaFree(block));
}

TEST(EmulatedRuntime, CopiesRoundTripAndZero) {
  const std::vector<float> host = {1.f, 2.f, 3.f, 4.f, 5.f};
  DeviceArray<float> a(5), b(5);
  cuda::memcpy(a.get(), true, host.data(), false, sizeof(float) * 5);
  cuda::memcpy(b.get(), true, a.get(), true, sizeof(float) * 5);
  std::vector<float> back(5);
  cuda::memcpy(back.data(), false, b.get(), true, sizeof(float) * 5);
  EXPECT_EQ(back, host);
  cuda::device_memset_zero(b.get(), sizeof(float) * 2);
  EXPECT_EQ(b.read(), (std::vector<float>{0.f, 0.f, 3.f, 4.f, 5.f}));
}

TEST(EmulatedRuntime, FreshDeviceMemoryReadsAsNan) {
  DeviceArray<float> fresh(4);
  for (float value : fresh.read()) EXPECT_TRUE(std::isnan(value));
}

TEST(EmulatedRuntime, HostApiErrorsAreReturnedAndKeptAsTheLastError) {
  std::vector<float> host(16);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidValue);  // not a cudaMalloc block
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reading it cleared it
  DeviceArray<float> device(16);
  // A device side that is host memory, or that leaves its block.
  EXPECT_EQ(cudaMemcpy(host.data(), device.get(), 64, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), device.get(), 68, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemsetAsync(device.get() + 8, 0, 40, cuda::compute_stream()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), device.get(), 64, cudaMemcpyDefault), cudaSuccess);  // direction inferred
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
  cudaGetLastError();
  EXPECT_EQ(cudaSetDevice(3), cudaErrorInvalidDevice);
  cudaEvent_t destroyed = nullptr;
  CUDA_CHECK(cudaEventCreate(&destroyed));
  CUDA_CHECK(cudaEventDestroy(destroyed));
  EXPECT_EQ(cudaEventRecord(destroyed), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
}

TEST(EmulatedRuntime, EventsTimeTheWorkBetweenThem) {
  cudaEvent_t start = nullptr, stop = nullptr;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  const int64_t n = 1 << 16;
  DeviceArray<float> x(std::vector<float>(n, 1.f)), y(std::vector<float>(n, 0.f));
  CUDA_CHECK(cudaEventRecord(start, cuda::compute_stream()));
  scale_add(x.get(), y.get(), 2.f, n, {64, 256});
  CUDA_CHECK(cudaEventRecord(stop, cuda::compute_stream()));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float milliseconds = -1;
  CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
  EXPECT_GT(milliseconds, 0.f);
  EXPECT_EQ(cudaEventQuery(stop), cudaSuccess);
  cuda::Event untimed;  // cudaEventDisableTiming
  untimed.record(cuda::compute_stream());
  untimed.make_wait(cuda::copy_stream());
  untimed.synchronize();
  EXPECT_EQ(cudaEventElapsedTime(&milliseconds, start, untimed.get()), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
}

TEST(EmulatedRuntime, CachingAllocatorReusesBlocksAndKernelsAcceptThem) {
  const cuda::BlockPoolStats before = cuda::allocator_stats();
  void* first = cuda::cached_allocate(1000);
  cuda::cached_deallocate(first);
  void* second = cuda::cached_allocate(900);  // the same size class: the cached block
  EXPECT_EQ(second, first);
  EXPECT_EQ(cuda::allocator_stats().raw_allocations, before.raw_allocations + 1);
  // A pointer into a pooled block is device memory to a launch.
  float* x = static_cast<float*>(second);
  CUDA_CHECK(cudaMemset(x, 0, 900));
  scale_add(x, x + 100, 1.f, 100, {1, 128});
  cuda::cached_deallocate(second);
  cuda::empty_cache();
  EXPECT_EQ(cuda::allocator_stats().reserved_bytes, before.reserved_bytes);
}

TEST(EmulatedRuntime, CachingAllocatorThrowsBadAllocWhenTheDeviceIsFull) {
  const size_t capacity = cuda::emulator::memory_capacity();
  cuda::emulator::set_memory_capacity(8 << 20);
  void* held = cuda::cached_allocate(6 << 20);
  EXPECT_THROW(cuda::cached_allocate(6 << 20), std::bad_alloc);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the pool cleared cudaErrorMemoryAllocation
  cuda::cached_deallocate(held);
  cuda::empty_cache();
  cuda::emulator::set_memory_capacity(capacity);
}

TEST(EmulatedRuntime, PinnedBufferUploads) {
  cuda::PinnedBuffer staging(64);
  float* host = static_cast<float*>(staging.data());
  for (int i = 0; i < 16; ++i) host[i] = float(i);
  DeviceArray<float> device(16);
  staging.copy_to_device(device.get(), 64);
  const std::vector<float> back = device.read();
  EXPECT_EQ(back[15], 15.f);
  staging.reserve(1 << 20);
  EXPECT_GE(staging.capacity(), size_t(1) << 20);
}

// A buffer whose copy has finished (always, under the emulator) is written
// again without waiting for the device: data() asks before it waits.
TEST(EmulatedRuntime, PinnedBufferReusedWithoutAWaitOnceItsCopyIsDone) {
  cuda::PinnedBuffer staging(64);
  DeviceArray<float> device(16);
  const cuda::emulator::Counters before = cuda::emulator::counters();
  for (int upload = 0; upload < 3; ++upload) {
    float* host = static_cast<float*>(staging.data());
    for (int i = 0; i < 16; ++i) host[i] = float(upload * 16 + i);
    staging.copy_to_device(device.get(), 64);
  }
  const cuda::emulator::Counters work = cuda::emulator::counters() - before;
  EXPECT_EQ(work.host_waits, 0u);
  EXPECT_EQ(work.host_to_device_copies, 3u);
  EXPECT_EQ(device.read()[15], 47.f);
}
