#include "cli/support/in_world.h"

#include <exception>
#include <iostream>

namespace clipgrad::cli {

void run_in_world(distributed::Communicator& world, const std::function<void()>& body) {
  if (world.world_size() == 1) return body();
  try {
    body();
  } catch (const std::exception& error) {
    std::cerr << "clipgrad: rank " << world.rank() << " of " << world.world_size() << ": " << error.what() << std::endl;
    world.abort_job(1);
  }
}

}  // namespace clipgrad::cli
