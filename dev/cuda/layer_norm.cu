// Kernel lab: layer norm forward, y = (x - mean) * rstd * weight + bias over
// the last dim of x [rows, D], writing mean and rstd [rows] for the backward.
//
//   build/dev/cuda/lab_layer_norm [rows D]    (default 256 * 77 text tokens, D 512)
//
// Layer norm is memory-bound: it reads x once and writes y once (8 bytes per
// element in f32), so the measure is GB/s against the device's copy rate
// (~4.3 TB/s on an H200), not FLOP/s.
//   1 naive: one thread per row, two passes over the row (mean, variance)
//     and a third to write. Adjacent threads read addresses D floats apart, so
//     a warp's 32 loads touch 32 cache lines: ~1/32 of the bandwidth used.
//   2 warp per row: the 32 lanes stride the row together (one 128-byte line
//     per warp load), keep the row in registers (D / 32 values per lane, so x
//     is read once), and reduce sum and squared deviations with shuffles. No
//     shared memory, no __syncthreads. 8 warps per block so that the
//     scheduler has several rows in flight per SM to hide load latency.
//   3 warp per row, double statistics (what tensor/cuda/norms.cu ships, as
//     layer_norm_kernel3): the lanes stride the row as in 2, but the sums run
//     in double and x is read three times (mean, centred squares, output)
//     instead of held in registers, so any D works and the result is the
//     CPU's to the final rounding. It pays with 2 extra reads of x: 2 is the
//     speed ceiling, 3 is what correctness-against-the-CPU costs.
#include "lab_common.cuh"

constexpr int kMaxPerLane = 32;  // D <= 1024 in the register version (CLIP: 512, 768, 1024)

// grid ceil(rows / 256), block 256: thread r owns row r.
__global__ void layer_norm_kernel1(const float* x, const float* weight, const float* bias, int rows, int d, float* y,
                                   float* mean_out, float* rstd_out) {
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  const float* in = x + size_t(row) * d;
  float mean = 0;
  for (int i = 0; i < d; ++i) mean += in[i];
  mean /= d;
  float var = 0;
  for (int i = 0; i < d; ++i) var += (in[i] - mean) * (in[i] - mean);
  const float rstd = rsqrtf(var / d + 1e-5f);
  for (int i = 0; i < d; ++i) y[size_t(row) * d + i] = (in[i] - mean) * rstd * weight[i] + bias[i];
  mean_out[row] = mean;
  rstd_out[row] = rstd;
}

__device__ float warp_sum(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
  return value;
}

// grid ceil(rows / 8), block 256 = 8 warps: warp w of block b owns row 8 b + w; lane l holds elements l, l + 32, ...
__global__ void layer_norm_kernel2(const float* x, const float* weight, const float* bias, int rows, int d, float* y,
                                   float* mean_out, float* rstd_out) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* in = x + size_t(row) * d;
  float values[kMaxPerLane];
  float total = 0;
#pragma unroll
  for (int t = 0; t < kMaxPerLane; ++t) {
    const int i = lane + 32 * t;
    values[t] = i < d ? in[i] : 0.f;
    total += values[t];
  }
  const float mean = warp_sum(total) / d;
  float squares = 0;
#pragma unroll
  for (int t = 0; t < kMaxPerLane; ++t)
    if (lane + 32 * t < d) squares += (values[t] - mean) * (values[t] - mean);
  const float rstd = rsqrtf(warp_sum(squares) / d + 1e-5f);
#pragma unroll
  for (int t = 0; t < kMaxPerLane; ++t) {
    const int i = lane + 32 * t;
    if (i < d) y[size_t(row) * d + i] = (values[t] - mean) * rstd * weight[i] + bias[i];
  }
  if (lane == 0) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

__device__ double warp_sum_double(double value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
  return value;
}

// grid ceil(rows / 8), block 256 = 8 warps: warp w of block b owns row 8 b + w, lane l elements l, l + 32, ...
__global__ void layer_norm_kernel3(const float* x, const float* weight, const float* bias, int rows, int d, float* y,
                                   float* mean_out, float* rstd_out) {
  const int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* in = x + size_t(row) * d;
  double total = 0;
  for (int i = lane; i < d; i += 32) total += in[i];
  const double mean = warp_sum_double(total) / d;
  double squares = 0;
  for (int i = lane; i < d; i += 32) squares += (in[i] - mean) * (in[i] - mean);
  const double rstd = 1.0 / sqrt(warp_sum_double(squares) / d + 1e-5);
  const float m = float(mean), s = float(rstd);
  for (int i = lane; i < d; i += 32) y[size_t(row) * d + i] = (in[i] - m) * s * weight[i] + bias[i];
  if (lane == 0) {
    mean_out[row] = m;
    rstd_out[row] = s;
  }
}

int main(int argc, char** argv) {
  if (!lab_has_device()) return 0;
  const int rows = argc > 2 ? std::atoi(argv[1]) : 256 * 77, d = argc > 2 ? std::atoi(argv[2]) : 512;
  if (d > 32 * kMaxPerLane) {
    std::fprintf(stderr, "D must be <= %d for the register version\n", 32 * kMaxPerLane);
    return 1;
  }
  std::printf("layer_norm x [%d, %d]\n", rows, d);
  const std::vector<float> x = random_values(size_t(rows) * d, 2.f, 1), weight = random_values(d, 1.f, 2),
                           bias = random_values(d, 1.f, 3);
  std::vector<float> want(x.size()), want_mean(rows), want_rstd(rows);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < d; ++i) mean += x[size_t(r) * d + i];
    mean /= d;
    for (int i = 0; i < d; ++i) var += (x[size_t(r) * d + i] - mean) * (x[size_t(r) * d + i] - mean);
    const double rstd = 1 / std::sqrt(var / d + 1e-5);
    for (int i = 0; i < d; ++i)
      want[size_t(r) * d + i] = float((x[size_t(r) * d + i] - mean) * rstd * weight[i] + bias[i]);
    want_mean[r] = float(mean);
    want_rstd[r] = float(rstd);
  }
  float *device_x = to_device(x), *device_weight = to_device(weight), *device_bias = to_device(bias);
  float *device_y = nullptr, *device_mean = nullptr, *device_rstd = nullptr;
  LAB_CHECK(cudaMalloc(&device_y, x.size() * sizeof(float)));
  LAB_CHECK(cudaMalloc(&device_mean, rows * sizeof(float)));
  LAB_CHECK(cudaMalloc(&device_rstd, rows * sizeof(float)));
  const double bytes = 2.0 * x.size() * sizeof(float);  // x in, y out
  auto report = [&](const char* name, float milliseconds) {
    check_against_cpu(name, to_host(device_y, x.size()), want, 1e-4f);
    check_against_cpu("    rstd", to_host(device_rstd, rows), want_rstd, 1e-4f);
    std::printf("  %-28s %8.3f ms  %7.1f GB/s\n", name, milliseconds, bytes / milliseconds / 1e6);
  };
  report("1 naive (thread per row)", time_ms([&] {
           lab_launch(layer_norm_kernel1, (rows + 255) / 256, 256, 0, device_x, device_weight, device_bias, rows, d,
                      device_y, device_mean, device_rstd);
         }));
  report("2 warp per row", time_ms([&] {
           lab_launch(layer_norm_kernel2, (rows + 7) / 8, 256, 0, device_x, device_weight, device_bias, rows, d,
                      device_y, device_mean, device_rstd);
         }));
  report("3 warp per row, double sums", time_ms([&] {
           lab_launch(layer_norm_kernel3, (rows + 7) / 8, 256, 0, device_x, device_weight, device_bias, rows, d,
                      device_y, device_mean, device_rstd);
         }));
  for (float* pointer : {device_x, device_weight, device_bias, device_y, device_mean, device_rstd}) cudaFree(pointer);
  return lab_exit_code();
}
