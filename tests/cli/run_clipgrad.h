// Runs the built clipgrad binary (CLIPGRAD_BINARY), or any command, through
// the shell, for the tests that start processes.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

namespace clipgrad::testing {

struct CommandResult {
  std::string output;  // stdout and stderr together
  int exit_code = -1;  // -1: it did not exit (a signal ended it)
};

// `command` may hold shell redirections (e.g. "< input.txt").
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
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

inline CommandResult run_clipgrad(const std::string& args) {
  return run_command(std::string("'") + CLIPGRAD_BINARY + "' " + args);
}

// Starts `command` (its output discarded) and sends it `signal` as soon as
// `file` exists, or after 120 s; returns its wait status.
inline int stop_when_file_appears(const std::string& command, const std::filesystem::path& file, int signal) {
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(), nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(child, signal);
  int status = 0;
  waitpid(child, &status, 0);
  return status;
}

}  // namespace clipgrad::testing
