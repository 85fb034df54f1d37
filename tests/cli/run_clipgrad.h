// Runs the built clipgrad binary (CLIPGRAD_BINARY) through the shell, for the
// CLI tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace clipgrad::testing {

struct CommandResult {
  std::string output;  // stdout and stderr together
  int exit_code = -1;
};

// `args` may hold shell redirections (e.g. "< input.txt").
inline CommandResult run_clipgrad(const std::string& args) {
  const std::string command = std::string("'") + CLIPGRAD_BINARY + "' " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe) {
    char buffer[4096];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, got);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return result;
}

}  // namespace clipgrad::testing
