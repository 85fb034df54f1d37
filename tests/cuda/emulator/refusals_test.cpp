// What CUDA leaves undefined or a GPU would fault on is refused with a
// KernelError naming the kernel, its call site, the block and the thread;
// the launch ends cleanly (every fiber unwound) and the next one works.
#include <gtest/gtest.h>

#include <vector>

#include "emulator_test_support.h"
#include "toy_kernels.h"

using namespace clipgrad;
using namespace clipgrad::toy;

TEST(EmulatorRefusals, BarrierReachedAtTwoCallSites) {
  DeviceArray<int> out(64);
  const std::string message = refusal_of([&] { mismatched_barrier(out.get(), {2, 64}); });
  EXPECT_TRUE(contains(message, "kernel mismatched_barrier"));
  EXPECT_TRUE(contains(message, "toy_kernels.cu"));
  // Whichever block fails first (the schedule decides), the first waiting thread is named.
  EXPECT_TRUE(contains(message, "thread (0,0,0) (warp 0, lane 0): waits at __syncthreads() at"));
  EXPECT_TRUE(contains(message, "while thread (1,0,0) (warp 0, lane 1) waits at __syncthreads() at"));
  EXPECT_TRUE(contains(message, "every thread of a block must reach the same __syncthreads()"));
}

TEST(EmulatorRefusals, BarrierAfterSomeThreadsExited) {
  DeviceArray<int> out(128);
  const std::string message = refusal_of([&] { barrier_after_exit(out.get(), {1, 128}); });
  EXPECT_TRUE(contains(message, "kernel barrier_after_exit"));
  EXPECT_TRUE(contains(message, "waits for thread (32,0,0) (warp 1, lane 0), which exited without reaching it"));
  EXPECT_TRUE(contains(message, "32 of 128 threads reached it"));
}

TEST(EmulatorRefusals, ShuffleMaskNamingALaneThatExited) {
  DeviceArray<float> out(32);
  const std::string message = refusal_of([&] { shuffle_with_exited_lane(out.get(), {1, 32}); });
  EXPECT_TRUE(contains(message, "kernel shuffle_with_exited_lane"));
  EXPECT_TRUE(contains(message, "__shfl_xor_sync (mask 0xffffffff)"));
  EXPECT_TRUE(contains(message, "lane 31 (thread (31,0,0) (warp 0, lane 31))"));
  EXPECT_TRUE(contains(message, "exited"));
}

TEST(EmulatorRefusals, LanesOfOneMaskAtDifferentKindsOfCollective) {
  DeviceArray<int> out(32);
  const std::string message = refusal_of([&] { collectives_of_two_kinds(out.get(), {1, 32}); });
  EXPECT_TRUE(contains(message, "__ballot_sync (mask 0xffffffff)"));
  EXPECT_TRUE(contains(message, "waits at __shfl_xor_sync (mask 0xffffffff)"));
}

TEST(EmulatorRefusals, FullMaskInAPartialWarp) {
  DeviceArray<float> out(64);
  std::vector<float> x(64, 1.f);
  DeviceArray<float> dx(x), partial(1);
  // 48 threads: the second warp has 16 lanes, and warp_sums' full mask names 32.
  const std::string message = refusal_of([&] {
    cuda::launch(
        "partial_warp", +[](const float*, float*) { __syncwarp(); }, {1, 48}, dx.get(), partial.get());
  });
  EXPECT_TRUE(contains(message, "block (0,0,0) thread ("));  // the first lane of warp 1 to arrive
  EXPECT_TRUE(contains(message, "(warp 1, lane "));
  EXPECT_TRUE(contains(message, "__syncwarp (mask 0xffffffff)"));
  EXPECT_TRUE(contains(message, "names lane 16, but this warp has only 16 threads"));
}

TEST(EmulatorRefusals, BlockOfMoreThan1024Threads) {
  DeviceArray<float> x(2048), y(2048);
  const std::string message = refusal_of([&] { scale_add(x.get(), y.get(), 1.f, 2048, {2, 1025}); });
  EXPECT_TRUE(contains(message, "kernel scale_add"));
  EXPECT_TRUE(contains(message, "a block of 1025 threads"));
  EXPECT_TRUE(contains(message, "at most 1024 threads per block"));
  try {
    scale_add(x.get(), y.get(), 1.f, 2048, {2, {32, 32, 2}});
    ADD_FAILURE() << "a block of 32 x 32 x 2 was not refused";
  } catch (const cuda::emulator::KernelError& error) {
    EXPECT_EQ(error.code(), cudaErrorInvalidConfiguration);
  }
}

TEST(EmulatorRefusals, GridOverCudasLimits) {
  DeviceArray<float> x(16), y(16);
  EXPECT_TRUE(contains(refusal_of([&] {
                         scale_add(x.get(), y.get(), 1.f, 16, {{1, 65536}, 32});
                       }),
                       "exceeds CUDA's limits"));
  EXPECT_TRUE(contains(refusal_of([&] { scale_add(x.get(), y.get(), 1.f, 16, {0, 32}); }), "dimension is 0"));
}

TEST(EmulatorRefusals, SharedMemoryOver48KibWithoutTheAttribute) {
  DeviceArray<float> out(32);
  unraised_shared(out.get(), 48 * 1024);  // exactly the default limit: fine
  const std::string message = refusal_of([&] { unraised_shared(out.get(), 49 * 1024); });
  EXPECT_TRUE(contains(message, "50176 bytes of dynamic shared memory: more than the 49152 this kernel may use"));
  EXPECT_TRUE(contains(message, "cudaFuncAttributeMaxDynamicSharedMemorySize"));
}

TEST(EmulatorRefusals, SharedMemoryOverTheSm90Limit) {
  DeviceArray<float> out(32);
  const std::string message = refusal_of([&] { unraised_shared(out.get(), 240000); });
  EXPECT_TRUE(contains(message, "240000 bytes of dynamic shared memory: more than sm_90's 232448 per block"));
  int too_much = 232448 + 4;
  EXPECT_EQ(cudaFuncSetAttribute(
                +[](float*) {}, cudaFuncAttributeMaxDynamicSharedMemorySize, too_much),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
}

TEST(EmulatorRefusals, HostPointerArgument) {
  // The packed_self_attention defect: a kernel handed a CPU buffer.
  std::vector<float> host(1000, 1.f);
  DeviceArray<float> device(1000);
  const std::string message = refusal_of([&] { scale_add(device.get(), host.data(), 2.f, 1000, {4, 256}); });
  EXPECT_TRUE(contains(message, "kernel scale_add"));
  EXPECT_TRUE(contains(message, "parameter 1 (counting from 0)"));
  EXPECT_TRUE(contains(message, "not in emulated device memory: a host pointer"));
  EXPECT_EQ(host[0], 1.f);  // refused before any thread ran
  // Null, a pointer inside a block and one just past its end are fine.
  scale_add(device.get() + 500, device.get() + 500, 1.f, 500, {1, 32});
  scale_add(device.get() + 1000, nullptr, 1.f, 0, {1, 32});
}

TEST(EmulatorRefusals, FreedDeviceMemoryArgument) {
  float* freed = nullptr;
  CUDA_CHECK(cudaMalloc(&freed, 4096));
  CUDA_CHECK(cudaFree(freed));
  DeviceArray<float> y(16);
  const std::string message = refusal_of([&] { scale_add(freed, y.get(), 1.f, 16, {1, 32}); });
  EXPECT_TRUE(contains(message, "parameter 0 (counting from 0)"));
  EXPECT_TRUE(contains(message, "device memory that cudaFree has freed"));
}

TEST(EmulatorRefusals, SharedMemoryWrittenPastItsEnd) {
  DeviceArray<float> out(32);
  const std::string message = refusal_of([&] { shared_overflow(out.get(), 20); });
  EXPECT_TRUE(contains(message, "kernel shared_overflow"));
  EXPECT_TRUE(contains(message, "thread (3,0,0)"));
  EXPECT_TRUE(contains(message, "wrote dynamic shared memory out of bounds: byte 80 (past the end of its 80 bytes)"));
}

TEST(EmulatorRefusals, TrapEndsTheLaunchNamingTheThread) {
  DeviceArray<int> out(32);
  try {
    trapping(out.get());
    ADD_FAILURE() << "__trap() did not end the launch";
  } catch (const cuda::emulator::KernelError& error) {
    EXPECT_TRUE(contains(error.what(), "thread (5,0,0)"));
    EXPECT_TRUE(contains(error.what(), "__trap() at"));
    EXPECT_EQ(error.code(), cudaErrorIllegalInstruction);
  }
}

TEST(EmulatorRefusals, AKernelExceptionEndsTheLaunchAndTheNextLaunchWorks) {
  DeviceArray<int> out(256);
  const std::string message = refusal_of([&] {
    cuda::launch(
        "throwing",
        +[](int* o) {
          __syncthreads();  // every other thread is suspended here when thread 100 throws
          if (threadIdx.x == 100) throw std::runtime_error("bad index 7");
          __syncthreads();
          o[threadIdx.x] = 1;
        },
        {3, 256}, out.get());
  });
  EXPECT_TRUE(contains(message, "thread (100,0,0) (warp 3, lane 4): the kernel threw: bad index 7"));
  // The fibers of the failed block were unwound; their stacks serve the next launches.
  for (int i = 0; i < 3; ++i) mismatched_barrier(out.get(), {1, 1});  // one thread: nothing to mismatch
  std::vector<float> x(100, 1.f);
  DeviceArray<float> dx(x), dy(100);
  CUDA_CHECK(cudaMemset(dy.get(), 0, 400));
  scale_add(dx.get(), dy.get(), 3.f, 100, {2, 64});
  EXPECT_EQ(dy.read()[99], 3.f);
}

TEST(EmulatorRefusals, DeviceFunctionsOutsideAKernel) {
  EXPECT_THROW(__syncthreads(), std::logic_error);
  EXPECT_THROW(__shfl_xor_sync(0xffffffffu, 1.f, 1), std::logic_error);
}
