// distributed_probe: the MPI and NCCL worlds' collectives on real processes, for
// tests/distributed/world_processes_test.cpp, which starts it under mpirun:
//   distributed_probe collectives [cpu|cuda]  every collective against the result it
//                                      must give (cpu: MPI, the same bits as
//                                      the rank-order sum; cuda: NCCL, whose
//                                      order is its own, to rounding); exits 0
//                                      when every rank agrees
//   distributed_probe timeout                 rank 0 waits at a barrier that the other
//                                      ranks reach a minute late: it must time
//                                      out naming it and take the job down
//   distributed_probe gpus                    prints how many GPUs this build can use
// Each world runs its real calls even with one process.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "distributed/mpi/mpi_communicator.h"
#ifdef CLIPGRAD_HAVE_NCCL
#include "cuda/runtime.h"
#include "distributed/nccl/nccl_communicator.h"
#endif

using namespace clipgrad;

namespace {

// Rank `rank`'s element i: distinct per rank and element, not exactly representable.
template <class T>
T element(int rank, int64_t i) {
  return T(rank + 1) * T(0.37) + T(1) / T(i + 3);
}

template <class T>
std::vector<T> rank_values(int rank, int64_t n) {
  std::vector<T> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = element<T>(rank, i);
  return values;
}

// Elements [first, first + n) of the sum over ranks 0..N-1, added in rank
// order (from the values the ranks send, so that no contraction into FMA can
// make them differ).
template <class T>
std::vector<T> rank_order_sum(int ranks, int64_t first, int64_t n) {
  std::vector<T> sum = rank_values<T>(0, first + n);
  for (int r = 1; r < ranks; ++r) {
    std::vector<T> values = rank_values<T>(r, first + n);
    for (int64_t i = 0; i < first + n; ++i) sum[i] += values[i];
  }
  return std::vector<T>(sum.begin() + first, sum.end());
}

struct Checker {
  distributed::Communicator* world = nullptr;
  Device device = Device::CPU;
  bool exact = true;  // MPI: bit for bit; NCCL: to rounding
  int failures = 0;

  template <class T>
  void expect(const std::string& what, const std::vector<T>& got, int64_t first_index) {
    const std::vector<T> sum = rank_order_sum<T>(world->world_size(), first_index, int64_t(got.size()));
    const int ranks = world->world_size();
    for (size_t k = 0; k < got.size(); ++k) {
      const T want = sum[k];
      const double tolerance = exact ? 0.0 : (sizeof(T) == 4 ? 1e-6 : 1e-14) * std::abs(double(want)) * ranks;
      if (std::abs(double(got[k]) - double(want)) > tolerance) {
        std::fprintf(stderr, "rank %d: %s: element %lld is %.17g, want %.17g\n", world->rank(), what.c_str(),
                     static_cast<long long>(first_index + int64_t(k)), double(got[k]), double(want));
        ++failures;
        return;
      }
    }
  }

  template <class T>
  Tensor values(int64_t n) const {
    return Tensor::from_vector<T>({n}, rank_values<T>(world->rank(), n)).to(device);
  }

  template <class T>
  void sums() {
    const std::string type = sizeof(T) == 4 ? " f32" : " f64";
    // An all-reduce of a size that does not split evenly over the ranks.
    Tensor buffer = values<T>(1001);
    world->all_reduce_sum(buffer, "all-reduce" + type);
    expect<T>("all-reduce" + type, buffer.to(Device::CPU).template to_vector<T>(), 0);
    // Three in flight at once, waited for last first.
    std::vector<Tensor> buffers{values<T>(17), values<T>(4096), values<T>(3)};
    std::vector<std::unique_ptr<distributed::PendingCollective>> pending;
    for (size_t b = 0; b < buffers.size(); ++b)
      pending.push_back(world->start_all_reduce_sum(buffers[b], "overlapped all-reduce " + std::to_string(b)));
    for (size_t b = buffers.size(); b-- > 0;) {
      pending[b]->wait();
      expect<T>("overlapped all-reduce " + std::to_string(b) + type, buffers[b].to(Device::CPU).template to_vector<T>(),
                0);
    }
    // A reduce-scatter: this rank's segment of 257.
    const int64_t segment = 257;
    Tensor full = values<T>(segment * world->world_size());
    Tensor shard = Tensor::empty({segment}, full.dtype(), device);
    world->start_reduce_scatter_sum(full, shard, "reduce-scatter" + type)->wait();
    expect<T>("reduce-scatter" + type, shard.to(Device::CPU).template to_vector<T>(), world->rank() * segment);
    // And by rows: [N*2, 3] -> this rank's [2, 3].
    Tensor rows = values<T>(6 * world->world_size()).reshape({2 * world->world_size(), 3});
    Tensor mine = world->reduce_scatter_rows(rows, "reduce-scatter of rows" + type);
    if (mine.shape() != Shape{2, 3}) {
      std::fprintf(stderr, "rank %d: reduce-scatter of rows gave %s\n", world->rank(), shape_str(mine.shape()).c_str());
      ++failures;
    }
    expect<T>("reduce-scatter of rows" + type, mine.to(Device::CPU).template to_vector<T>(), world->rank() * 6);
  }

  void gather_and_broadcast() {
    const int ranks = world->world_size(), rank = world->rank();
    // Row j of rank r holds r * 10 + j.
    std::vector<float> local(2 * 3);
    for (int j = 0; j < 2; ++j)
      for (int c = 0; c < 3; ++c) local[j * 3 + c] = float(rank * 10 + j);
    Tensor gathered = world->all_gather_rows(Tensor::from_vector<float>({2, 3}, local).to(device), "all-gather");
    std::vector<float> all = gathered.to(Device::CPU).to_vector<float>();
    for (int r = 0; r < ranks; ++r)
      for (int j = 0; j < 2; ++j)
        if (all.at((r * 2 + j) * 3) != float(r * 10 + j)) {
          std::fprintf(stderr, "rank %d: all-gather: row %d is %g\n", rank, r * 2 + j, all[(r * 2 + j) * 3]);
          ++failures;
        }
    // From the last rank to all.
    std::vector<double> root_values(5);
    for (int i = 0; i < 5; ++i) root_values[i] = rank == ranks - 1 ? 42.0 + i : 0.0;
    Tensor broadcast = Tensor::from_vector<double>({5}, root_values).to(device);
    world->broadcast(broadcast, ranks - 1, "broadcast");
    std::vector<double> received = broadcast.to(Device::CPU).to_vector<double>();
    for (int i = 0; i < 5; ++i)
      if (received[i] != 42.0 + i) {
        std::fprintf(stderr, "rank %d: broadcast: element %d is %g\n", rank, i, received[i]);
        ++failures;
      }
    world->barrier("barrier");
  }
};

std::unique_ptr<distributed::Communicator> open_world(const std::string& device) {
  auto mpi = std::make_unique<distributed::MpiCommunicator>(distributed::collective_timeout_from_env());
  if (device == "cpu") return mpi;
#ifdef CLIPGRAD_HAVE_NCCL
  if (device == "cuda")
    return std::make_unique<distributed::NcclCommunicator>(std::move(mpi), distributed::collective_timeout_from_env());
#endif
  throw std::invalid_argument("distributed_probe: device '" + device + "' (this build: cpu" +
#ifdef CLIPGRAD_HAVE_NCCL
                              std::string(", cuda") +
#endif
                              ")");
}

int collectives(const std::string& device) {
  std::unique_ptr<distributed::Communicator> world = open_world(device);
  Checker check{world.get(), device == "cuda" ? Device::CUDA : Device::CPU, device == "cpu"};
  check.sums<float>();
  check.sums<double>();
  check.gather_and_broadcast();
  if (check.device == Device::CUDA) {
    // CPU tensors in a CUDA world go over its MPI bootstrap, bit for bit.
    Checker host{world.get(), Device::CPU, true};
    host.sums<double>();
    host.gather_and_broadcast();
    check.failures += host.failures;
  }
  std::printf("rank %d of %d (%s): %s\n", world->rank(), world->world_size(), world->name().c_str(),
              check.failures == 0 ? "every collective agrees" : "FAILED");
  return check.failures == 0 ? 0 : 1;
}

int late_barrier() {
  distributed::MpiCommunicator world(distributed::collective_timeout_from_env());
  if (world.world_size() < 2) throw std::invalid_argument("distributed_probe timeout needs at least 2 processes");
  if (world.rank() != 0) std::this_thread::sleep_for(std::chrono::seconds(60));
  try {
    world.barrier("barrier the other ranks reach late");
  } catch (const std::exception& error) {
    std::cerr << "distributed_probe: rank " << world.rank() << ": " << error.what() << std::endl;
    world.abort_job(3);
  }
  std::cerr << "distributed_probe: rank " << world.rank() << " passed a barrier it should have timed out at\n";
  return 1;
}

int gpus() {
#ifdef CLIPGRAD_HAVE_NCCL
  std::printf("%d\n", cuda::device_count());
#else
  std::printf("0\n");
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "collectives") return collectives(argc > 2 ? argv[2] : "cpu");
    if (command == "timeout") return late_barrier();
    if (command == "gpus") return gpus();
  } catch (const std::exception& error) {
    std::cerr << "distributed_probe " << command << ": " << error.what() << std::endl;
    // The other ranks may be inside a collective: end them too.
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, 2);
    return 2;
  }
  std::cerr << "usage: distributed_probe collectives [cpu|cuda] | timeout | gpus\n";
  return 2;
}
