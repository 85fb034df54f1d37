// The emulator's counters (cuda/emulator/counters.h): each kind of work
// counts once, under its own name, and a host read through the cuda/ runtime
// (what Tensor::item() does) is one wait and one device-to-host copy.
#include <gtest/gtest.h>

#include <vector>

#include "cuda/check.h"
#include "cuda/emulator/counters.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "emulator_test_support.h"
#include "toy_kernels.h"

using namespace clipgrad;
using cuda::emulator::Counters;
using cuda::emulator::counters;

namespace {

struct DeviceFloats {
  explicit DeviceFloats(size_t count) { CUDA_CHECK(cudaMalloc(&pointer, count * sizeof(float))); }
  ~DeviceFloats() { cudaFree(pointer); }
  float* data() { return static_cast<float*>(pointer); }
  void* pointer = nullptr;
};

}  // namespace

TEST(EmulatorCounters, CountLaunchesWaitsAndCopiesApart) {
  DeviceFloats x(256), y(256);
  std::vector<float> host(256, 1.0f);
  const Counters before = counters();
  cuda::memcpy(x.data(), true, host.data(), false, 256 * sizeof(float));  // an upload: waits once
  cuda::memcpy(y.data(), true, x.data(), true, 256 * sizeof(float));      // queued: no wait
  toy::scale_add(x.data(), y.data(), 2.0f, 256, {2, 128});
  toy::scale_add(x.data(), y.data(), 2.0f, 256, {2, 128});
  cuda::memcpy(host.data(), false, y.data(), true, 256 * sizeof(float));  // a read: waits once
  const Counters delta = counters() - before;
  EXPECT_EQ(delta.kernel_launches, 2u);
  EXPECT_EQ(delta.library_calls, 0u);
  EXPECT_EQ(delta.launches(), 2u);
  EXPECT_EQ(delta.host_waits, 2u);
  EXPECT_EQ(delta.host_to_device_copies, 1u);
  EXPECT_EQ(delta.device_to_host_copies, 1u);
  EXPECT_EQ(host[0], 5.0f);
}

TEST(EmulatorCounters, SynchronisingCallsEachCountOneWaitAndQueriesNone) {
  cudaEvent_t event = nullptr;
  CUDA_CHECK(cudaEventCreate(&event));
  const Counters before = counters();
  CUDA_CHECK(cudaEventRecord(event, cuda::compute_stream()));
  CUDA_CHECK(cudaEventQuery(event));
  CUDA_CHECK(cudaStreamQuery(cuda::compute_stream()));
  EXPECT_EQ((counters() - before).host_waits, 0u);
  CUDA_CHECK(cudaEventSynchronize(event));
  CUDA_CHECK(cudaStreamSynchronize(cuda::compute_stream()));
  CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ((counters() - before).host_waits, 3u);
  CUDA_CHECK(cudaEventDestroy(event));
}

TEST(EmulatorCounters, ResetStartsFromZero) {
  DeviceFloats x(32), y(32);
  toy::scale_add(x.data(), y.data(), 1.0f, 32, {1, 32});
  cuda::emulator::reset_counters();
  const Counters now = counters();
  EXPECT_EQ(now.launches(), 0u);
  EXPECT_EQ(now.host_waits, 0u);
}
