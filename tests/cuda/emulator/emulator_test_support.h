// What the emulator's tests share: device arrays, a schedule or a worker
// count for one scope, the message of a launch that must fail, and the best
// of a few wall-clock runs for the timing lines some tests print.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "cuda/check.h"
#include "cuda/emulator/controls.h"
#include "cuda/emulator/launch.h"

namespace clipgrad::toy {

// n values of T in emulated device memory.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : size_(n) { CUDA_CHECK(cudaMalloc(&data_, sizeof(T) * n)); }
  explicit DeviceArray(const std::vector<T>& values) : DeviceArray(values.size()) { write(values); }
  ~DeviceArray() { cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return data_; }
  void write(const std::vector<T>& values) {
    CUDA_CHECK(cudaMemcpy(data_, values.data(), sizeof(T) * values.size(), cudaMemcpyHostToDevice));
  }
  std::vector<T> read() const {
    std::vector<T> values(size_);
    CUDA_CHECK(cudaMemcpy(values.data(), data_, sizeof(T) * size_, cudaMemcpyDeviceToHost));
    return values;
  }

 private:
  T* data_ = nullptr;
  size_t size_;
};

class ScopedSchedule {
 public:
  explicit ScopedSchedule(const char* schedule) : saved_(cuda::emulator::schedule()) {
    cuda::emulator::set_schedule(cuda::emulator::parse_schedule(schedule));
  }
  ~ScopedSchedule() { cuda::emulator::set_schedule(saved_); }

 private:
  cuda::emulator::Schedule saved_;
};

class ScopedWorkers {
 public:
  explicit ScopedWorkers(unsigned threads) : saved_(cuda::emulator::worker_threads()) {
    cuda::emulator::set_worker_threads(threads);
  }
  ~ScopedWorkers() { cuda::emulator::set_worker_threads(saved_); }

 private:
  unsigned saved_;
};

// The message of the KernelError that `launch` must throw (a test failure if it does not).
template <class Launch>
std::string refusal_of(Launch&& launch) {
  try {
    launch();
  } catch (const cuda::emulator::KernelError& error) {
    return error.what();
  }
  ADD_FAILURE() << "the launch was not refused";
  return "";
}

inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' is not in: " << text;
}

// The fastest of repeats runs of run(), in milliseconds of wall clock.
template <class Run>
double best_milliseconds(Run&& run, int repeats = 3) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace clipgrad::toy
