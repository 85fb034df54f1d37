// The data-parallel collectives on the CPU, under mpirun: our fixed-order
// all-reduce (distributed/mpi: alltoall, rank-order sum, allgather; the same bits on
// every run) and reduce-scatter beside MPI's own (whose summation order is the
// library's choice), at gradient-bucket sizes.
//
//   mpirun -np 2 build/bench/dist_collectives_bench
//
// Every rank times each iteration between barriers and the slowest rank's
// time is the iteration's (manual time); rank 0 alone prints. Counter: GB/s,
// the buffer's bytes over that time (algorithm bandwidth). The iteration
// counts are fixed, so that every rank calls every collective.
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <chrono>
#include <functional>
#include <memory>

#include "distributed/mpi/mpi_communicator.h"

using namespace clipgrad;

namespace {

distributed::MpiCommunicator* world = nullptr;

void time_each_iteration(benchmark::State& state, int64_t bytes, const std::function<void()>& collective) {
  for (auto _ : state) {
    world->barrier("barrier before a timed collective");
    const auto start = std::chrono::steady_clock::now();
    collective();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    state.SetIterationTime(seconds);
  }
  state.counters["GB/s"] =
      benchmark::Counter(double(bytes) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["ranks"] = world->world_size();
}

int64_t elements(const benchmark::State& state) { return state.range(0) / int64_t(sizeof(float)); }

void BM_FixedOrderAllReduce(benchmark::State& state) {
  Tensor buffer = Tensor::full({elements(state)}, 1.0);
  time_each_iteration(state, buffer.nbytes(), [&] { world->all_reduce_sum(buffer, "all-reduce"); });
}

void BM_MpiAllreduce(benchmark::State& state) {
  Tensor buffer = Tensor::full({elements(state)}, 1.0);
  time_each_iteration(state, buffer.nbytes(), [&] {
    MPI_Allreduce(MPI_IN_PLACE, buffer.raw_data(), static_cast<int>(buffer.numel()), MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
  });
}

// The reduce-scatter of --zero 1: each rank keeps 1/N of the sum.
void BM_FixedOrderReduceScatter(benchmark::State& state) {
  const int64_t segment = elements(state) / world->world_size();
  Tensor full = Tensor::full({segment * world->world_size()}, 1.0), shard = Tensor::empty({segment});
  time_each_iteration(state, full.nbytes(),
                      [&] { world->start_reduce_scatter_sum(full, shard, "reduce-scatter")->wait(); });
}

void BM_MpiReduceScatterBlock(benchmark::State& state) {
  const int64_t segment = elements(state) / world->world_size();
  Tensor full = Tensor::full({segment * world->world_size()}, 1.0), shard = Tensor::empty({segment});
  time_each_iteration(state, full.nbytes(), [&] {
    MPI_Reduce_scatter_block(full.raw_data(), shard.raw_data(), static_cast<int>(segment), MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD);
  });
}

// 64 KiB (a small bucket), 1 MiB, and 25 MiB (DDP's and our default bucket).
void bucket_sizes(benchmark::internal::Benchmark* benchmark) {
  benchmark->Arg(64 << 10)->Arg(1 << 20)->Arg(25 << 20)->Iterations(20);
  benchmark->UseManualTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_FixedOrderAllReduce)->Apply(bucket_sizes);
BENCHMARK(BM_MpiAllreduce)->Apply(bucket_sizes);
BENCHMARK(BM_FixedOrderReduceScatter)->Apply(bucket_sizes);
BENCHMARK(BM_MpiReduceScatterBlock)->Apply(bucket_sizes);

// The ranks other than 0 run every benchmark and print nothing.
class SilentReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  auto communicator = std::make_unique<distributed::MpiCommunicator>(distributed::collective_timeout_from_env());
  world = communicator.get();
  benchmark::Initialize(&argc, argv);
  if (world->rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    SilentReporter silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}
