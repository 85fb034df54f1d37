// The MPI and NCCL worlds on real processes: tests/distributed/probe/distributed_probe.cpp
// started under mpirun. Two CPU processes: every collective gives the bits of
// the rank-order sum, and a rank left waiting at a collective times out
// naming it and ends the job. On a machine with GPUs, the NCCL world on all of
// them (one process still makes every NCCL call). Skipped without mpirun.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "cli/run_clipgrad.h"

using clipgrad::testing::run_command;

namespace {

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

#ifdef CLIPGRAD_DISTRIBUTED_PROBE
std::string mpirun(int processes, const std::string& arguments) {
  return "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(processes) +
         " -x CLIPGRAD_COLLECTIVE_TIMEOUT '" + std::string(CLIPGRAD_DISTRIBUTED_PROBE) + "' " + arguments;
}
#endif

#define SKIP_WITHOUT_MPI() \
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found";

}  // namespace

#ifndef CLIPGRAD_DISTRIBUTED_PROBE
TEST(WorldProcesses, NeedsMpi) { GTEST_SKIP() << "built without MPI"; }
#else

TEST(WorldProcesses, MpiCollectivesGiveTheRankOrderSumsBitForBit) {
  SKIP_WITHOUT_MPI();
  for (int processes : {1, 2, 3}) {
    auto result = run_command("CLIPGRAD_COLLECTIVE_TIMEOUT=60 " + mpirun(processes, "collectives cpu"));
    EXPECT_EQ(result.exit_code, 0) << processes << " processes:\n" << result.output;
    for (int rank = 0; rank < processes; ++rank)
      EXPECT_NE(result.output.find("rank " + std::to_string(rank) + " of " + std::to_string(processes) +
                                   " (MPI): every collective agrees"),
                std::string::npos)
          << result.output;
  }
}

TEST(WorldProcesses, ARankLeftWaitingTimesOutNamingTheCollectiveAndEndsTheJob) {
  SKIP_WITHOUT_MPI();
  const auto start = std::chrono::steady_clock::now();
  auto result = run_command("CLIPGRAD_COLLECTIVE_TIMEOUT=1 " + mpirun(2, "timeout"));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("rank 0: MPI barrier the other ranks reach late timed out after 1"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("CLIPGRAD_COLLECTIVE_TIMEOUT"), std::string::npos) << result.output;
  // The other rank sleeps for a minute: the job was taken down, not waited for.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30)) << result.output;
}

TEST(WorldProcesses, NcclCollectivesOnEveryGpu) {
  SKIP_WITHOUT_MPI();
  auto gpus = run_command("'" + std::string(CLIPGRAD_DISTRIBUTED_PROBE) + "' gpus");
  ASSERT_EQ(gpus.exit_code, 0) << gpus.output;
  const int count = std::atoi(gpus.output.c_str());
  if (count == 0) GTEST_SKIP() << "no GPU (or built without NCCL)";
  auto result = run_command("CLIPGRAD_COLLECTIVE_TIMEOUT=120 " + mpirun(count, "collectives cuda"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("(NCCL): every collective agrees"), std::string::npos) << result.output;
}

#endif
