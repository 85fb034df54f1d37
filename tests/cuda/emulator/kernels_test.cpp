// Correct CUDA-style kernels give the CPU's answers under the emulator:
// grid-stride loops, shared-memory reductions with __syncthreads, warp
// shuffles and votes, dynamic shared memory past 48 KiB with the attribute
// raised, and atomics across blocks running on several OS threads.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "emulator_test_support.h"
#include "toy_kernels.h"

using namespace clipgrad;
using namespace clipgrad::toy;

namespace {

std::vector<float> ramp(size_t n, float scale = 1.f) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = scale * float(i % 97) - 3.f;
  return values;
}

}  // namespace

TEST(EmulatorKernels, GridStrideLoopCoversEveryElement) {
  const int64_t n = 10007;  // more elements than threads, not a multiple of the block
  const std::vector<float> x = ramp(n), y0 = ramp(n, 0.5f);
  DeviceArray<float> dx(x), dy(y0);
  scale_add(dx.get(), dy.get(), 2.f, n, {7, 128});
  const std::vector<float> y = dy.read();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 2.f * x[i] + y0[i]) << i;
}

TEST(EmulatorKernels, BlockReductionWithSharedMemoryAndBarriers) {
  const int64_t n = 100000;
  const std::vector<float> x(n, 0.25f);
  DeviceArray<float> dx(x), partial(16);
  for (unsigned threads : {32u, 256u, 1024u}) {
    block_sums(dx.get(), partial.get(), n, {16, threads});
    for (float sum : partial.read()) EXPECT_EQ(sum, 0.25f * 6250) << threads << " threads";
  }
}

TEST(EmulatorKernels, WarpButterflyAndTreeSums) {
  const int warps = 4;
  std::vector<float> x(32 * warps);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  DeviceArray<float> dx(x), xor_sums(x.size()), down_sums(warps);
  warp_sums(dx.get(), xor_sums.get(), down_sums.get(), warps);
  const std::vector<float> butterfly = xor_sums.read(), tree = down_sums.read();
  for (int w = 0; w < warps; ++w) {
    const float expected = float(32 * w * 32 + 31 * 32 / 2);  // sum of 32w .. 32w + 31
    EXPECT_EQ(tree[w], expected);
    for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(butterfly[32 * w + lane], expected) << "lane " << lane;
  }
}

TEST(EmulatorKernels, WarpSumsOfDoublesAndInt64) {
  const int warps = 2;
  std::vector<double> x(64);
  std::vector<int64_t> big(64);
  for (int i = 0; i < 64; ++i) {
    x[i] = 0.5 * i;
    big[i] = (int64_t(1) << 40) + i;  // needs all 64 bits
  }
  DeviceArray<double> dx(x), xs(64), ds(warps);
  warp_sums(dx.get(), xs.get(), ds.get(), warps);
  EXPECT_EQ(ds.read()[1], 0.5 * (32 + 63) * 32 / 2);
  DeviceArray<int64_t> db(big), bxs(64), bds(warps);
  warp_sums(db.get(), bxs.get(), bds.get(), warps);
  EXPECT_EQ(bds.read()[0], 32 * (int64_t(1) << 40) + 31 * 32 / 2);
  EXPECT_EQ(bxs.read()[40], 32 * (int64_t(1) << 40) + (32 + 63) * 32 / 2);
}

TEST(EmulatorKernels, ScanBroadcastBallotAndVotes) {
  std::vector<int> x(32);
  for (int i = 0; i < 32; ++i) x[i] = i % 3 == 0 ? i : -1;
  DeviceArray<int> dx(x), scan(32), broadcast(32), all_any(2);
  DeviceArray<unsigned> ballot(1);
  warp_votes(dx.get(), scan.get(), broadcast.get(), ballot.get(), all_any.get());
  std::vector<int> expected_scan(32);
  std::partial_sum(x.begin(), x.end(), expected_scan.begin());
  EXPECT_EQ(scan.read(), expected_scan);
  const std::vector<int> b = broadcast.read();
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(b[lane], x[31 - lane]);
  unsigned expected_ballot = 0;
  for (int i = 0; i < 32; ++i)
    if (x[i] > 0) expected_ballot |= 1u << i;
  EXPECT_EQ(ballot.read()[0], expected_ballot);
  EXPECT_EQ(all_any.read(), (std::vector<int>{1, 0}));
}

TEST(EmulatorKernels, DynamicSharedMemoryPast48KibWithTheAttributeRaised) {
  for (int per_block : {1000, 20000}) {  // 4 KB, then 80 KB
    const int blocks = 3;
    const std::vector<float> x = ramp(size_t(per_block) * blocks);
    DeviceArray<float> dx(x), dy(x.size());
    reverse_chunks(dx.get(), dy.get(), per_block, blocks);
    const std::vector<float> y = dy.read();
    for (int b = 0; b < blocks; ++b)
      for (int i = 0; i < per_block; ++i)
        ASSERT_EQ(y[size_t(b) * per_block + i], x[size_t(b) * per_block + per_block - 1 - i]) << per_block;
  }
}

TEST(EmulatorKernels, AtomicsAcrossBlocksOnSeveralThreads) {
  ScopedWorkers workers(4);  // blocks really run at the same time
  const int64_t n = 50000;
  const int bins = 7;
  std::vector<int> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = int(i * 31 % 1000);
  DeviceArray<int> dv(values), largest(1);
  DeviceArray<unsigned> counts(bins);
  DeviceArray<float> float_total(1);
  DeviceArray<double> double_total(1);
  CUDA_CHECK(cudaMemset(counts.get(), 0, bins * sizeof(unsigned)));
  float_total.write({0.f});
  double_total.write({0.0});
  largest.write({-1});
  atomic_histogram(dv.get(), n, bins, counts.get(), float_total.get(), double_total.get(), largest.get(), {64, 128});
  std::vector<unsigned> expected(bins, 0);
  double total = 0;
  for (int v : values) {
    ++expected[v % bins];
    total += v;
  }
  EXPECT_EQ(counts.read(), expected);
  EXPECT_EQ(double_total.read()[0], total);
  EXPECT_NEAR(float_total.read()[0], total, total * 1e-3);  // float sums in whatever order the blocks ran
  EXPECT_EQ(largest.read()[0], 999);
}
