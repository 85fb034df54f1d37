// distributed/world/world.cpp as a build without MPI compiles it: one process
// trains as always; a launcher that started several is refused, saying what
// to install. (test_distributed_without_mpi compiles world.cpp itself, without
// CLIPGRAD_HAVE_MPI.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "distributed/world/world.h"

using namespace clipgrad;

#ifdef CLIPGRAD_HAVE_MPI
#error "this test must be built without CLIPGRAD_HAVE_MPI"
#endif

namespace {

// Sets a launcher's environment variable for one test.
class LauncherEnvironment {
 public:
  LauncherEnvironment(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~LauncherEnvironment() { unsetenv(name_); }

 private:
  const char* name_;
};

}  // namespace

TEST(WorldWithoutMpi, OneProcessIsASingleProcessWorld) {
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMI_SIZE");
  EXPECT_EQ(distributed::join_world(Device::CPU)->name(), "single process");
  LauncherEnvironment one("OMPI_COMM_WORLD_SIZE", "1");
  EXPECT_EQ(distributed::join_world(Device::CPU)->world_size(), 1);
}

TEST(WorldWithoutMpi, SeveralProcessesAreRefusedSayingWhatToInstall) {
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    LauncherEnvironment two(launcher, "2");
    for (Device device : {Device::CPU, Device::CUDA}) {
      try {
        distributed::join_world(device);
        ADD_FAILURE() << launcher << ": a world of 2 was joined without MPI";
      } catch (const std::runtime_error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("one of 2 processes"), std::string::npos) << message;
        EXPECT_NE(message.find("built without MPI"), std::string::npos) << message;
        EXPECT_NE(message.find("libopenmpi-dev"), std::string::npos) << message;
      }
    }
  }
}
