// --device: an unknown name, and cuda where it cannot run (a build without
// CUDA, a machine without a GPU), are refused in one line before any work.
#include <gtest/gtest.h>

#include "cli/run_clipgrad.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

using clipgrad::testing::run_clipgrad;

TEST(DeviceCli, RefusesAnUnknownDevice) {
  const auto result = run_clipgrad("train --data /nonexistent.csv --device tpu");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("--device tpu: expected cpu or cuda"), std::string::npos) << result.output;
}

TEST(DeviceCli, RefusesCudaWhereItCannotRun) {
#ifdef CLIPGRAD_HAVE_CUDA
  if (clipgrad::cuda::available()) GTEST_SKIP() << "this machine has a GPU";
  const char* reason = "no CUDA device";
#else
  const char* reason = "built without CUDA";
#endif
  for (const char* command : {"train --data /nonexistent.csv", "eval --model /nonexistent --labels x --classes y",
                              "demo --out /nonexistent/demo"}) {
    const auto result = run_clipgrad(std::string(command) + " --device cuda");
    EXPECT_NE(result.exit_code, 0) << command;
    EXPECT_NE(result.output.find("--device cuda: "), std::string::npos) << command << ": " << result.output;
    EXPECT_NE(result.output.find(reason), std::string::npos) << command << ": " << result.output;
  }
}
