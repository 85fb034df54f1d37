// CLIPGRAD_EMU_SCHEDULE shows races: a kernel that reads shared memory
// another thread writes without a barrier between gives different bits under
// the forward and the reverse order, and so does a float sum by atomics
// across blocks; the same kernels written correctly give the same bits under
// every order and any number of worker threads.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "emulator_test_support.h"
#include "toy_kernels.h"

using namespace clipgrad;
using namespace clipgrad::toy;

namespace {

std::vector<float> values(int64_t n) {
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = 1.f / float(1 + i % 13) + float(i % 5) * 1e-3f;
  return x;
}

std::vector<float> neighbour_sums_under(const char* schedule, bool synchronised, unsigned threads = 1) {
  ScopedSchedule order(schedule);
  ScopedWorkers workers(threads);
  const int64_t n = 1000;
  DeviceArray<float> x(values(n)), y(n);
  neighbour_sums(x.get(), y.get(), n, synchronised);
  return y.read();
}

float atomic_total_under(const char* schedule) {
  ScopedSchedule order(schedule);
  ScopedWorkers workers(1);
  const int64_t n = 64 * 256;
  DeviceArray<float> x(values(n)), total(1);
  total.write({0.f});
  atomic_block_totals(x.get(), total.get(), n);
  return total.read()[0];
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(EmulatorSchedule, ParsesTheThreeOrders) {
  using cuda::emulator::Order;
  EXPECT_EQ(cuda::emulator::parse_schedule("forward").order, Order::Forward);
  EXPECT_EQ(cuda::emulator::parse_schedule("reverse").order, Order::Reverse);
  EXPECT_EQ(cuda::emulator::parse_schedule("shuffled:42").seed, 42u);
  EXPECT_THROW(cuda::emulator::parse_schedule("backwards"), std::invalid_argument);
  EXPECT_THROW(cuda::emulator::parse_schedule("shuffled:"), std::invalid_argument);
  EXPECT_EQ(cuda::emulator::schedule_name(cuda::emulator::parse_schedule("shuffled:7")), "shuffled:7");
}

TEST(EmulatorSchedule, AMissingBarrierGivesDifferentBitsUnderForwardAndReverse) {
  const std::vector<float> forward = neighbour_sums_under("forward", false);
  const std::vector<float> reverse = neighbour_sums_under("reverse", false);
  EXPECT_FALSE(same_bits(forward, reverse)) << "the race did not show";
}

TEST(EmulatorSchedule, WithTheBarrierEveryOrderGivesTheSameBits) {
  const std::vector<float> forward = neighbour_sums_under("forward", true);
  EXPECT_TRUE(same_bits(forward, neighbour_sums_under("reverse", true)));
  EXPECT_TRUE(same_bits(forward, neighbour_sums_under("shuffled:1", true)));
  EXPECT_TRUE(same_bits(forward, neighbour_sums_under("shuffled:2", true, 3)));
  const std::vector<float> x = values(1000);
  EXPECT_EQ(forward[10], x[10] + x[11]);
  EXPECT_EQ(forward[255], x[255]);  // the last of a block has no neighbour in its tile
}

TEST(EmulatorSchedule, AFloatSumByAtomicsDependsOnTheOrderOfBlocks) {
  const float forward = atomic_total_under("forward");
  EXPECT_EQ(forward, atomic_total_under("forward"));  // one order, one worker: reproducible
  EXPECT_NE(forward, atomic_total_under("reverse"));
}

TEST(EmulatorSchedule, AShuffledOrderIsReproducibleForItsSeed) {
  // The launches are counted from the moment the schedule is set, so the same seed gives the same orders.
  EXPECT_EQ(atomic_total_under("shuffled:5"), atomic_total_under("shuffled:5"));
}
