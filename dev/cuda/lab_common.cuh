// What every kernel lab shares: checked CUDA calls, random inputs, a CPU
// comparison that names the worst element, and a timer on CUDA events.
// The labs are standalone (no clipgrad library): read one top to bottom.
#pragma once

#include <cuda_runtime.h>

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
  return true;
}

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
  std::printf("  %-28s %s  worst relative error %.2e at %zu (got %g, want %g)\n", name, ok ? "OK  " : "FAIL", worst,
              where, want.empty() ? 0.0 : got[where], want.empty() ? 0.0 : want[where]);
  return ok;
}

// The mean milliseconds of `launch` over `repeats` runs after `warmup` runs, timed with CUDA events.
template <class Launch>
float time_ms(Launch launch, int repeats = 20, int warmup = 3) {
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
