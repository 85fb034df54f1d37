#include "distributed/world/world.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#ifdef CLIPGRAD_HAVE_MPI
#include "distributed/mpi/mpi_communicator.h"
#endif
#ifdef CLIPGRAD_HAVE_NCCL
#include "distributed/nccl/nccl_communicator.h"
#endif

namespace clipgrad::distributed {

int launcher_world_size() {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* value = std::getenv(variable);
    if (value && *value) return std::atoi(value);
  }
  return 0;
}

std::unique_ptr<Communicator> join_world(Device device) {
  const int launched = launcher_world_size();
  if (launched <= 1) return std::make_unique<SingleProcess>();
#ifdef CLIPGRAD_HAVE_MPI
  auto mpi = std::make_unique<MpiCommunicator>(collective_timeout_from_env());
  if (device == Device::CPU) return mpi;
#if defined(CLIPGRAD_CUDA_EMULATE)
  return mpi;  // the emulated device's memory is host memory: MPI stands in for NCCL
#elif defined(CLIPGRAD_HAVE_NCCL)
  return std::make_unique<NcclCommunicator>(std::move(mpi), collective_timeout_from_env());
#else
  throw std::runtime_error("started as one of " + std::to_string(launched) +
                           " processes on CUDA, but this clipgrad was built without NCCL: install NCCL and "
                           "rebuild, or train data-parallel on the CPU");
#endif
#else
  (void)device;
  throw std::runtime_error("started as one of " + std::to_string(launched) +
                           " processes (by mpirun), but this clipgrad was built without MPI: install OpenMPI "
                           "(libopenmpi-dev) and rebuild, or run a single process without mpirun");
#endif
}

}  // namespace clipgrad::distributed
