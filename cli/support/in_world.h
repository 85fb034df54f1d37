// Running a command on every process of a data-parallel job (train, demo).
#pragma once

#include <functional>

#include "distributed/communicator.h"

namespace clipgrad::cli {

// Runs `body` on this process of `world`. With several processes, a rank
// whose body throws prints its error, naming its rank, and ends the whole
// job, so that no rank is left waiting in a collective; alone, the error
// propagates as for any command.
void run_in_world(distributed::Communicator& world, const std::function<void()>& body);

}  // namespace clipgrad::cli
