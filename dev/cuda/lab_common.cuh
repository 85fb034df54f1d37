// What every kernel lab shares: checked CUDA calls, the launch, random
// inputs, a CPU comparison that names the worst element (a lab exits 1 when
// one fails), and a timer on CUDA events. The labs are standalone (no
// clipgrad library): read one top to bottom. Built by nvcc they run on a GPU;
// in an emulated build (-DCLIPGRAD_CUDA=EMULATE) the same source runs on the
// CPU under cuda/emulator/, where every check means what it means on a GPU
// and every time is meaningless.
#pragma once

#include "cuda/api.h"
#ifdef CLIPGRAD_CUDA_EMULATE
#include "cuda/emulator/launch.h"
#endif

#include <source_location>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#define LAB_CHECK(call)                                                                                       \
  do {                                                                                                        \
    cudaError_t status_ = (call);                                                                             \
    if (status_ != cudaSuccess) {                                                                             \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(status_)); \
      std::exit(1);                                                                                           \
    }                                                                                                         \
  } while (0)

inline bool lab_has_device() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("no CUDA device: nothing to run\n");
    return false;
  }
#ifdef CLIPGRAD_CUDA_EMULATE
  std::printf("(emulated on the CPU: the checks hold, the times are the emulator's and mean nothing)\n");
#endif
  return true;
}

// kernel<<<grid, block, shared_bytes>>>(args...), in the emulator too; the launch error is checked.
template <class... Params, class... Args>
void lab_launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, Args... args) {
#ifdef CLIPGRAD_CUDA_EMULATE
  clipgrad::cuda::emulator::launch("lab kernel", std::source_location::current(), kernel, grid, block, shared_bytes,
                                   Params(args)...);
#else
  // clang-format reads a header as C++, where <<< >>> is not a launch:
  // clang-format off
  kernel<<<grid, block, shared_bytes>>>(Params(args)...);
  // clang-format on
#endif
  LAB_CHECK(cudaGetLastError());
}

// How many checks failed: a lab's main returns lab_exit_code().
inline int& lab_failures() {
  static int failures = 0;
  return failures;
}
inline int lab_exit_code() { return lab_failures() == 0 ? 0 : 1; }

inline std::vector<float> random_values(size_t count, float std, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.f, std);
  std::vector<float> values(count);
  for (float& v : values) v = normal(generator);
  return values;
}

// A device copy of host values (freed by the caller with cudaFree).
inline float* to_device(const std::vector<float>& values) {
  float* pointer = nullptr;
  LAB_CHECK(cudaMalloc(&pointer, values.size() * sizeof(float)));
  LAB_CHECK(cudaMemcpy(pointer, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
  return pointer;
}

inline std::vector<float> to_host(const float* pointer, size_t count) {
  std::vector<float> values(count);
  LAB_CHECK(cudaMemcpy(values.data(), pointer, count * sizeof(float), cudaMemcpyDeviceToHost));
  return values;
}

// Prints the largest |got - want| / (|want| + floor) and returns whether it is within tolerance.
inline bool check_against_cpu(const char* name, const std::vector<float>& got, const std::vector<float>& want,
                              float tolerance, float floor = 1e-3f) {
  double worst = 0;
  size_t where = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double error = std::abs(double(got[i]) - want[i]) / (std::abs(double(want[i])) + floor);
    if (error > worst) {
      worst = error;
      where = i;
    }
  }
  const bool ok = worst <= tolerance;
  if (!ok) ++lab_failures();
  std::printf("  %-28s %s  worst relative error %.2e at %zu (got %g, want %g)\n", name, ok ? "OK  " : "FAIL", worst,
              where, want.empty() ? 0.0 : got[where], want.empty() ? 0.0 : want[where]);
  return ok;
}

// The mean milliseconds of `launch` over `repeats` runs after `warmup` runs,
// timed with CUDA events (once, unwarmed, under the emulator: only the
// check after it matters there).
template <class Launch>
float time_ms(Launch launch, int repeats = 20, int warmup = 3) {
#ifdef CLIPGRAD_CUDA_EMULATE
  repeats = 1;
  warmup = 0;
#endif
  for (int i = 0; i < warmup; ++i) launch();
  cudaEvent_t start, stop;
  LAB_CHECK(cudaEventCreate(&start));
  LAB_CHECK(cudaEventCreate(&stop));
  LAB_CHECK(cudaEventRecord(start));
  for (int i = 0; i < repeats; ++i) launch();
  LAB_CHECK(cudaEventRecord(stop));
  LAB_CHECK(cudaEventSynchronize(stop));
  LAB_CHECK(cudaGetLastError());
  float total = 0;
  LAB_CHECK(cudaEventElapsedTime(&total, start, stop));
  LAB_CHECK(cudaEventDestroy(start));
  LAB_CHECK(cudaEventDestroy(stop));
  return total / repeats;
}
