// How long the emulator takes, printed for the record (no assertion: the
// machine decides): a 1M-thread grid-stride kernel (no barrier: each fiber
// runs once, start to end) and 64 blocks of 1024 threads through 10 rounds
// of a shared-memory tree (110 barriers a block: 7M fiber resumes).
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "emulator_test_support.h"
#include "toy_kernels.h"

using namespace clipgrad;
using namespace clipgrad::toy;

TEST(EmulatorTiming, GridStrideKernelOfOneMillionThreads) {
  const int64_t n = 1 << 20;
  DeviceArray<float> x(std::vector<float>(n, 1.f)), y(std::vector<float>(n, 0.f));
  const double ms = best_milliseconds([&] { scale_add(x.get(), y.get(), 1.f, n, {4096, 256}); });
  std::printf("[ timing ] %s: 1M-thread grid-stride kernel (4096 x 256): %.1f ms (%.0f ns per thread)\n",
              cuda::emulator::describe().c_str(), ms, ms * 1e6 / double(n));
  EXPECT_EQ(y.read()[n - 1], 3.f);  // three runs of y += x
}

TEST(EmulatorTiming, BarrierKernelOf64BlocksOf1024Threads) {
  const int rounds = 10;
  DeviceArray<float> x(std::vector<float>(64 * 1024, 1.f)), out(64);
  const double ms = best_milliseconds([&] { barrier_rounds(x.get(), out.get(), rounds, {64, 1024}); });
  const double resumes = 64.0 * 1024 * (rounds * 12 + 1);
  std::printf("[ timing ] %s: 64 x 1024 threads, %d barriers each: %.1f ms (%.0f ns per fiber resume)\n",
              cuda::emulator::describe().c_str(), rounds * 12, ms, ms * 1e6 / resumes);
  EXPECT_EQ(out.read()[63], 1024.f * rounds + 1024.f * (rounds * (rounds - 1) / 2));
}
