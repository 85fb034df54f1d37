// Joining the data-parallel world this process was started into.
#pragma once

#include <memory>

#include "distributed/communicator.h"

namespace clipgrad::distributed {

// The number of processes the launcher started, read from its environment
// (OpenMPI's OMPI_COMM_WORLD_SIZE, else PMI_SIZE of MPICH/Slurm); 0 when this
// process was not started by a launcher. Works without MPI compiled in.
int launcher_world_size();

// The world of this process: a single process when no launcher started it
// (or it started one process); else MPI for CPU training and NCCL for CUDA
// (one GPU per local rank). Throws with what to do when the launcher started
// several processes and this build has no MPI (or, for CUDA, no NCCL).
std::unique_ptr<Communicator> join_world(Device device);

}  // namespace clipgrad::distributed
