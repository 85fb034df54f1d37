// The one CPU-vs-CUDA harness of the kernel tests (tests/tensor/cuda/ and its
// blas/ and fused/): an op is called through ops:: on CPU tensors and on the
// same tensors copied to the GPU, so the dispatch picks each device's kernel;
// the results must have the same shapes and dtypes, agree within a stated
// relative error, and (run twice on the GPU) repeat bit for bit. Skips
// without a GPU (or the emulator).
//
// CLIPGRAD_CUDA_TEST_SMALL=1 keeps to the small shapes (for compute-sanitizer
// and the emulator, which run kernels ~100x slower): tests skip their large cases.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

namespace clipgrad::testing {

inline bool gpu_present() {
#ifdef CLIPGRAD_HAVE_CUDA
  return cuda::available();
#else
  return false;
#endif
}

#define SKIP_WITHOUT_GPU() \
  if (!::clipgrad::testing::gpu_present()) GTEST_SKIP() << "no CUDA device (or built without CUDA)"

inline bool small_shapes_only() {
  const char* value = std::getenv("CLIPGRAD_CUDA_TEST_SMALL");
  return value && std::string(value) == "1";
}

// ---- inputs ----

inline Tensor normal_tensor(const Shape& shape, Generator& generator, double mean = 0, double std = 1) {
  Tensor t = Tensor::empty(shape);
  fill_normal(t, mean, std, generator);
  return t;
}
inline Tensor uniform_tensor(const Shape& shape, Generator& generator, double low, double high) {
  Tensor t = Tensor::empty(shape);
  fill_uniform(t, low, high, generator);
  return t;
}
inline Tensor random_ids(const Shape& shape, int32_t bound, Generator& generator) {
  std::vector<int32_t> ids(shape_numel(shape));
  for (int32_t& id : ids) id = static_cast<int32_t>(generator.below(bound));
  return Tensor::from_vector<int32_t>(shape, ids);
}
// N(0, std^2) values of `dtype` from their own seed.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, double std = 1.0, DType dtype = DType::F32) {
  Tensor t = Tensor::empty(shape, dtype);
  Generator generator(seed);
  fill_normal(t, 0.0, std, generator);
  return t;
}
inline Tensor on_cuda(const Tensor& t) { return t.defined() ? t.to(Device::CUDA) : t; }

// ---- comparisons ----

// max |expected - actual| / max |expected| over the elements (both NaN counts as equal).
inline double relative_error(const Tensor& expected, const Tensor& actual) {
  const std::vector<double> a = expected.to(Device::CPU).to(DType::F64).to_vector<double>();
  const std::vector<double> b = actual.to(Device::CPU).to(DType::F64).to_vector<double>();
  double largest = 0, difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    largest = std::max(largest, std::fabs(a[i]));
    if (a[i] != b[i]) difference = std::max(difference, std::fabs(a[i] - b[i]));
  }
  return difference == 0 ? 0 : difference / std::max(largest, 1e-30);
}

// ||got - want|| / ||want|| over all elements (got may live on the GPU); the
// measure for library kernels (GEMM, convolution) whose summation order is
// the library's. 0 when both are all zeros.
inline double norm_relative_error(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = got.to(Device::CPU).to(DType::F64).to_vector<double>();
  const std::vector<double> b = want.to(Device::CPU).to(DType::F64).to_vector<double>();
  EXPECT_EQ(got.shape(), want.shape());
  double difference = 0, reference = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    difference += (a[i] - b[i]) * (a[i] - b[i]);
    reference += b[i] * b[i];
  }
  return reference == 0 ? std::sqrt(difference) : std::sqrt(difference / reference);
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  return x.shape() == y.shape() && x.dtype() == y.dtype() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

using OpOnDevice = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;

// Runs `op` on the CPU inputs and on their CUDA copies (twice): every output
// on CUDA, of the CPU's shape and dtype, within `tolerance` (relative_error),
// the same bits both times; the inputs unchanged.
inline void expect_cuda_matches_cpu(const std::string& label, const std::vector<Tensor>& inputs, const OpOnDevice& op,
                                    double tolerance) {
  SCOPED_TRACE(label);
  const std::vector<Tensor> expected = op(inputs);
  std::vector<Tensor> on_device;
  for (const Tensor& input : inputs) on_device.push_back(on_cuda(input));
  const std::vector<Tensor> actual = op(on_device), again = op(on_device);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    ASSERT_EQ(actual[i].defined(), expected[i].defined());
    if (!expected[i].defined()) continue;
    EXPECT_EQ(actual[i].device(), Device::CUDA);
    ASSERT_EQ(actual[i].shape(), expected[i].shape());
    ASSERT_EQ(actual[i].dtype(), expected[i].dtype());
    EXPECT_LE(relative_error(expected[i], actual[i]), tolerance);
    EXPECT_TRUE(same_bits(actual[i], again[i])) << "not deterministic";
  }
  // Inputs are not modified by ops that return their result (in-place ops clone first).
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) EXPECT_TRUE(same_bits(inputs[i], on_device[i])) << "input " << i << " changed";
  }
}

// The message an op throws (empty when it does not throw).
inline std::string thrown_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

}  // namespace clipgrad::testing
